//! Applying an OCI layer onto a root filesystem (to be written).
