//! VM disk images from an image's root filesystem: a raw disk with a GPT partition table
//! (written here, byte by byte) holding one ext4 partition filled by `mke2fs -d`, and the same
//! disk as qcow2 (`qemu-img convert`). The partition table's and filesystem's identifiers come
//! from the image's digest and their times from the build's epoch
//! (`E2FSPROGS_FAKE_TIME`), so a disk says which image it holds.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sha2::{Digest, Sha256};

const SECTOR: u64 = 512;
/// The partition starts at 1 MiB, as partitioning tools align it.
const FIRST_LBA: u64 = 2048;
const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Sectors the partition entries take (128 × 128 bytes).
const ENTRY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;
/// The Linux filesystem partition type, 0FC63DAF-8483-4772-8E79-3D69D8477DE4.
const LINUX_FS: [u8; 16] = guid_bytes(
    0x0FC6_3DAF,
    0x8483,
    0x4772,
    [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4],
);

const fn guid_bytes(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// What to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskOutputs {
    pub raw: Option<PathBuf>,
    pub qcow2: Option<PathBuf>,
    /// The disk's size; default the root's size with room to spare.
    pub size: Option<u64>,
}

impl DiskOutputs {
    pub fn is_empty(&self) -> bool {
        self.raw.is_none() && self.qcow2.is_none()
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qcow2: Option<String>,
    pub size: u64,
    /// The ext4 filesystem's UUID (derived from the image's digest).
    pub filesystem_uuid: String,
}

/// 16 bytes of a GUID derived from `seed` and `what`, as a version 4, variant 1 UUID.
fn derived(seed: &str, what: &str) -> [u8; 16] {
    let hash = Sha256::digest(format!("{seed}\n{what}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The canonical text of a UUID's 16 bytes, in order.
fn uuid_text(b: &[u8; 16]) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// A GUID's on-disk bytes (its first three fields little-endian) from a UUID's bytes.
fn on_disk(uuid: &[u8; 16]) -> [u8; 16] {
    let mut g = *uuid;
    g[..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
}

/// The bytes under `dir` (apparent sizes), directories counted as one block.
fn tree_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            4096 + tree_size(&entry.path())?
        } else {
            meta.len().div_ceil(4096) * 4096
        };
    }
    Ok(total)
}

/// Writes the disks of `outputs` from the root filesystem `root` of the image `digest`.
///
/// # Errors
///
/// When the root cannot be read, a disk cannot be written, or `mke2fs` or `qemu-img` fails.
pub fn write(
    root: &Path,
    outputs: &DiskOutputs,
    digest: &str,
    epoch: u64,
) -> io::Result<DiskReport> {
    let size = match outputs.size {
        Some(s) => s,
        // Half again the files, and 64 MiB for the filesystem's own structures.
        None => tree_size(root)? * 3 / 2 + (64 << 20),
    };
    let sectors = size.div_ceil(1 << 20) * (1 << 20) / SECTOR;
    let last_usable = sectors - 1 - ENTRY_SECTORS - 1;
    let fs_uuid = derived(digest, "filesystem");
    let raw = match &outputs.raw {
        Some(p) => p.clone(),
        None => outputs
            .qcow2
            .as_ref()
            .expect("a disk output")
            .with_extension("raw.tmp"),
    };
    if let Some(parent) = raw.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(&raw)?;
    file.set_len(sectors * SECTOR)?;
    write_gpt(&file, sectors, last_usable, digest)?;
    drop(file);
    let fs_blocks = (last_usable + 1 - FIRST_LBA) * SECTOR / 4096;
    let uuid = uuid_text(&fs_uuid);
    let made = Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .args([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "root", "-U", &uuid,
        ])
        .arg("-E")
        .arg(format!(
            "offset={},hash_seed={uuid},root_owner=0:0",
            FIRST_LBA * SECTOR
        ))
        .arg("-d")
        .arg(root)
        .arg(&raw)
        .arg(fs_blocks.to_string())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `mke2fs` (e2fsprogs): {e}")))?;
    if !made.status.success() {
        return Err(io::Error::other(format!(
            "mke2fs failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        )));
    }
    let mut report = DiskReport {
        raw: outputs.raw.as_ref().map(|p| p.display().to_string()),
        qcow2: None,
        size: sectors * SECTOR,
        filesystem_uuid: uuid,
    };
    if let Some(qcow2) = &outputs.qcow2 {
        let converted = Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(qcow2)
            .output()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot run `qemu-img` (qemu-utils): {e}"))
            })?;
        if outputs.raw.is_none() {
            let _ = std::fs::remove_file(&raw);
        }
        if !converted.status.success() {
            return Err(io::Error::other(format!(
                "qemu-img convert failed: {}",
                String::from_utf8_lossy(&converted.stderr).trim()
            )));
        }
        report.qcow2 = Some(qcow2.display().to_string());
    }
    Ok(report)
}

/// The protective MBR, both GPT headers and both entry arrays, one Linux partition from
/// [`FIRST_LBA`] to `last_usable`.
fn write_gpt(
    mut file: &std::fs::File,
    sectors: u64,
    last_usable: u64,
    digest: &str,
) -> io::Result<()> {
    // Protective MBR: one partition of type 0xEE over the whole disk.
    let mut mbr = [0u8; 512];
    let entry = &mut mbr[446..462];
    entry[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    entry[4] = 0xEE;
    entry[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    entry[8..12].copy_from_slice(&1u32.to_le_bytes());
    let covered = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    entry[12..16].copy_from_slice(&covered.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&mbr)?;

    let mut entries = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    entries[..16].copy_from_slice(&LINUX_FS);
    entries[16..32].copy_from_slice(&on_disk(&derived(digest, "partition")));
    entries[32..40].copy_from_slice(&FIRST_LBA.to_le_bytes());
    entries[40..48].copy_from_slice(&last_usable.to_le_bytes());
    for (i, unit) in "root".encode_utf16().enumerate() {
        entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
    }
    let entries_crc = crc32fast::hash(&entries);
    let disk_guid = on_disk(&derived(digest, "disk"));
    let header = |current: u64, backup: u64, entries_at: u64| {
        let mut h = [0u8; 512];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[40..48].copy_from_slice(&(2 + ENTRY_SECTORS).to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid);
        h[72..80].copy_from_slice(&entries_at.to_le_bytes());
        h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let last = sectors - 1;
    let backup_entries = last - ENTRY_SECTORS;
    for (at, bytes) in [
        (1, header(1, last, 2).to_vec()),
        (2, entries.clone()),
        (backup_entries, entries),
        (last, header(last, 1, backup_entries).to_vec()),
    ] {
        file.seek(SeekFrom::Start(at * SECTOR))?;
        file.write_all(&bytes)?;
    }
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_stored_mixed_endian_and_derived_uuids_are_version_4() {
        assert_eq!(
            LINUX_FS[..4],
            [0xAF, 0x3D, 0xC6, 0x0F],
            "the first field little-endian"
        );
        let u = derived("sha256:ab", "filesystem");
        let text = uuid_text(&u);
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert_eq!(on_disk(&on_disk(&u)), u);
        assert_ne!(derived("sha256:ab", "disk"), u);
    }

    #[test]
    fn the_partition_table_is_one_a_gpt_reader_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.raw");
        let sectors = 8 << 11; // 8 MiB
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(sectors * SECTOR).unwrap();
        write_gpt(&file, sectors, sectors - 34, "sha256:ab").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = &bytes[512..1024];
        assert_eq!(&header[..8], b"EFI PART");
        let mut zeroed = header[..92].to_vec();
        zeroed[16..20].fill(0);
        assert_eq!(
            u32::from_le_bytes(header[16..20].try_into().unwrap()),
            crc32fast::hash(&zeroed)
        );
        let backup = &bytes[((sectors - 1) * SECTOR) as usize..][..8];
        assert_eq!(backup, b"EFI PART");
        assert_eq!(&bytes[1024..1040], &LINUX_FS);
        assert_eq!(bytes[510..512], [0x55, 0xAA]);
    }
}
