//! OCI images as davit builds them: layers made from what a component changed in a root
//! filesystem (`layer`), applied back onto a root (`unpack`), and the image layout on disk
//! (`layout`).

pub mod layer;
pub mod layout;
pub mod registry;
pub mod sbom;
pub mod unpack;
