package portable

import "fmt"

// VerityState is what an image file carries for dm-verity, as found beside
// it and in it (package inspect gathers it): the rules of VerityProblems
// say what systemd does with it.
type VerityState struct {
	// DDI is true for a GPT disk image, false for a bare file system.
	DDI bool
	// SidecarsLooked is false for a file whose name does not end in .raw,
	// next to which systemd looks for no sidecar.
	SidecarsLooked bool
	// RootHashFile, VerityFile and SignatureFile say which of
	// NAME.roothash, NAME.verity and NAME.roothash.p7s exist.
	RootHashFile, VerityFile, SignatureFile bool
	// HashPartition and SignaturePartition say whether a DDI has a
	// verity partition for its file system, and a signature partition.
	HashPartition, SignaturePartition bool
	// TreeChecked says whether the hash tree was checked against the data
	// and root hash; TreeError is what did not match ("" when it did).
	TreeChecked bool
	TreeError   string
	// SignatureChecked says whether the signature was checked against a
	// certificate; SignatureError is why it does not verify ("" when it
	// does).
	SignatureChecked bool
	SignatureError   string
	// Uncovered is the bytes of the file system past the end of what the
	// hash tree covers.
	Uncovered int64
}

// VerityProblems says what systemd does with an image of kind k whose
// verity data is s, as a guest showed it (verity-facts.md): with a root
// hash and a hash tree systemd mounts the file system through dm-verity,
// and a signature makes it check the root hash against the certificates it
// trusts; half of that, and it mounts the image unverified without a word.
// A portable service then fails at start (226/NAMESPACE, or 203/EXEC on a
// bad block of its program); an extension is not merged.
func VerityProblems(k Kind, s VerityState) []Problem {
	var out []Problem
	add := func(sev Severity, rule, format string, args ...any) {
		out = append(out, Problem{Severity: sev, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	bad := Fails
	effect := "the service fails at start (226/NAMESPACE: verity cannot be set up, or EIO reading a block)"
	if k.IsExtension() {
		bad = Refused
		effect = "the extension is not merged"
	}
	switch {
	case s.DDI:
		if !s.HashPartition {
			break
		}
		if !s.SignaturePartition {
			add(Ignored, "verity-unsigned-ddi", "the disk image has a verity partition but no signature partition: systemd mounts it unverified, without a word (guests: 252 and 257, no dm-verity device), since it has no root hash to trust; sign it (--sign-key, --cert) or ship NAME.roothash beside it")
		}
	case !s.SidecarsLooked:
	case s.RootHashFile && !s.VerityFile:
		add(Ignored, "verity-no-tree", "NAME.roothash without NAME.verity: systemd mounts the image unverified, without a word (guests: 252 and 257); ship both")
	case s.VerityFile && !s.RootHashFile:
		add(Ignored, "verity-no-roothash", "NAME.verity without NAME.roothash: systemd mounts the image unverified, without a word (guests: 252 and 257); ship both")
	}
	if s.SignatureFile && !s.RootHashFile && !s.DDI && s.SidecarsLooked {
		add(Ignored, "verity-signature-unused", "NAME.roothash.p7s without NAME.roothash: systemd reads the signature only of a root hash it found")
	}
	if s.TreeChecked && s.TreeError != "" {
		// Guests (252, 257): a flipped byte of a file's data block mounts
		// fine, then reading the file fails ("verity: data block N is
		// corrupted", EIO).
		add(bad, "verity-mismatch", "%s: dm-verity refuses the blocks that do not match, as I/O errors: %s", s.TreeError, effect)
	}
	if s.Uncovered > 0 {
		add(bad, "verity-short-tree", "the hash tree covers %d bytes less than the file system: reads past its end fail: %s", s.Uncovered, effect)
	}
	signed := s.SignaturePartition || (s.SignatureFile && s.RootHashFile && s.VerityFile)
	switch {
	case !signed:
	case !s.SignatureChecked:
		add(Note, "verity-signature-unchecked", "signed: systemd sets the image up only on machines that trust the signer's certificate (/etc/verity.d/*.crt, or the kernel keyring), and then never unverified; give the certificate to check the signature")
	case s.SignatureError != "":
		add(bad, "verity-signature", "%s: a machine trusting this certificate does not trust the image (\"Userspace PKCS#7 validation failed: ... signer certificate not found\"; a certificate inside the signature is not trusted), and systemd never falls back to running it unverified: %s", s.SignatureError, effect)
	}
	return out
}
