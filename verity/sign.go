package verity

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mkportable/mkportable/pkcs7"
)

// SignRootHash returns a detached PKCS#7 signature of the root hash: of its
// 64 lowercase hex digits, no newline, the text systemd and the kernel
// check a signature against. With zero options it is what NAME.roothash.p7s
// holds (no certificate, as `openssl smime -sign -nocerts -noattr -binary
// -outform der` writes it); a Discoverable Disk Image's signature partition
// carries the certificate too, as systemd-repart puts it there.
func SignRootHash(root RootHash, s *pkcs7.Signer, opts pkcs7.SignOptions) ([]byte, error) {
	sig, err := s.Sign([]byte(root.String()), opts)
	if err != nil {
		return nil, fmt.Errorf("verity: sign root hash: %w", err)
	}
	return sig, nil
}

// VerifyRootHashSignature checks that sig is a signature of the root hash by
// the subject of cert, as systemd checks NAME.roothash.p7s against the
// certificates of /etc/verity.d. Errors wrap pkcs7.ErrMalformed,
// pkcs7.ErrNoSigner or pkcs7.ErrBadSignature.
func VerifyRootHashSignature(root RootHash, sig []byte, cert *x509.Certificate) error {
	if err := pkcs7.Verify(sig, []byte(root.String()), cert); err != nil {
		return fmt.Errorf("verity: root hash signature: %w", err)
	}
	return nil
}

// Sidecars are the files systemd looks for next to an image to set up
// dm-verity for it.
type Sidecars struct {
	RootHash  string // NAME.roothash: the root hash in hex
	Verity    string // NAME.verity: the hash file
	Signature string // NAME.roothash.p7s: the root hash signature
}

// SidecarPaths returns the sidecar files of the image at path: NAME.raw
// gives NAME.roothash, NAME.verity and NAME.roothash.p7s. It returns false
// for a path not ending in ".raw", next to which systemd 252 looks for no
// sidecar (only for the user.verity.roothash extended attribute).
func SidecarPaths(path string) (Sidecars, bool) {
	base, ok := strings.CutSuffix(path, ".raw")
	if !ok || base == "" || strings.HasSuffix(base, "/") {
		return Sidecars{}, false
	}
	return Sidecars{RootHash: base + ".roothash", Verity: base + ".verity", Signature: base + ".roothash.p7s"}, true
}
