// Package verity computes and checks dm-verity hash trees in the format
// `veritysetup format` writes and systemd uses: format (hash type) 1,
// SHA-256, a 512-byte superblock at offset 0 of the hash file and the tree
// from the first hash block after it, top level first.
//
// systemd looks for the tree of NAME.raw in NAME.verity (this layout, with
// the superblock: a hash file made with --no-superblock fails to set up)
// and for the root hash in NAME.roothash (64 lowercase hex digits); a
// Discoverable Disk Image's root-verity partition holds the same layout,
// superblock included, at offset 0 (systemd-repart 252 writes it so).
//
// Build hashes an image and returns a Tree: its parameters, the root hash,
// and the hash file, which Tree.WriteTo writes. Two builds of the same data
// with the same Options give the same bytes: unless Options.Salt is set,
// the salt is the SHA-256 of the data the tree covers (the data zero-padded
// to a whole number of data blocks, so for an image that is already a
// multiple of the block size, `sha256sum IMAGE`), and unless Options.UUID
// is set, the superblock's UUID is derived from the root hash (see
// Build). veritysetup picks both at random.
//
// Verify checks a hash file against data and a root hash, as dm-verity
// would before trusting a block, and says where they differ;
// ReadSuperblock reads a hash file's parameters with every field bounded.
//
// SignRootHash and VerifyRootHashSignature make and check
// NAME.roothash.p7s, the detached PKCS#7 signature of the root hash's hex
// text that systemd checks against the certificates in /etc/verity.d.
package verity
