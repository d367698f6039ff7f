package pkcs7

// Interoperability with OpenSSL, whose PKCS7 code systemd 252 verifies
// root hash signatures with: keys and certificates made by openssl in each
// file format, our signatures checked by `openssl smime -verify`, openssl's
// checked by Verify, and RSA signatures compared byte for byte.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// opensslRun runs openssl in dir and fails the test on a non-zero exit.
func opensslRun(t *testing.T, openssl, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %s: %s", strings.Join(args, " "), out)
}

// smimeVerify runs `openssl smime -verify` on a DER signature of the file
// content with the certificate cert as the trust anchor and the signer's
// certificate, and returns its error.
func smimeVerify(openssl, dir, sig, content, cert string) ([]byte, error) {
	cmd := exec.Command(openssl, "smime", "-verify", "-binary", "-inform", "der", "-in", sig, "-content", content,
		"-CAfile", cert, "-certfile", cert, "-purpose", "any", "-out", os.DevNull)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

func TestOpenSSL(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "roothash"), []byte(rootHash), 0o644))
	content := []byte(rootHash)

	for _, c := range []struct {
		name   string
		genKey []string // openssl command writing key.pem
		rsa    bool
	}{
		{"rsa-pkcs1", []string{"genrsa", "-traditional", "-out", "key.pem", "2048"}, true},
		{"rsa-pkcs8", []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", "key.pem"}, true},
		{"ec-sec1", []string{"ecparam", "-name", "prime256v1", "-genkey", "-out", "key.pem"}, false},
		{"ec-pkcs8", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "key.pem"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(dir, c.name)
			require.NoError(t, os.Mkdir(d, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, "roothash"), content, 0o644))
			opensslRun(t, openssl, d, c.genKey...)
			opensslRun(t, openssl, d, "req", "-x509", "-new", "-key", "key.pem", "-out", "cert.pem", "-days", "3650", "-subj", "/CN=mkportable test")
			keyPEM, err := os.ReadFile(filepath.Join(d, "key.pem"))
			require.NoError(t, err)
			certPEM, err := os.ReadFile(filepath.Join(d, "cert.pem"))
			require.NoError(t, err)
			s, err := ParseSigner(keyPEM, certPEM)
			require.NoError(t, err)

			for _, withCert := range []bool{false, true} {
				ours, err := s.Sign(content, SignOptions{Certificate: withCert})
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(d, "ours.p7s"), ours, 0o644))
				out, err := smimeVerify(openssl, d, "ours.p7s", "roothash", "cert.pem")
				require.NoError(t, err, "openssl smime -verify refused our signature: %s", out)

				// What openssl writes with the same options.
				args := []string{"smime", "-sign", "-noattr", "-binary", "-in", "roothash", "-inkey", "key.pem",
					"-signer", "cert.pem", "-outform", "der", "-out", "theirs.p7s"}
				if !withCert {
					args = append(args, "-nocerts")
				}
				opensslRun(t, openssl, d, args...)
				theirs, err := os.ReadFile(filepath.Join(d, "theirs.p7s"))
				require.NoError(t, err)
				require.NoError(t, Verify(theirs, content, s.Certificate()))
				if c.rsa {
					require.Equal(t, theirs, ours, "RSA PKCS#1 v1.5 signatures are deterministic: ours must be openssl's")
				} else {
					// ECDSA signature values differ (openssl picks a random
					// nonce); everything else must be the same.
					a, err := parse(ours)
					require.NoError(t, err)
					b, err := parse(theirs)
					require.NoError(t, err)
					a.SignerInfos[0].EncryptedDigest, b.SignerInfos[0].EncryptedDigest = nil, nil
					require.Equal(t, b, a)
				}
			}

			// openssl's signature with signed attributes (no -noattr).
			opensslRun(t, openssl, d, "smime", "-sign", "-binary", "-nocerts", "-in", "roothash", "-inkey", "key.pem",
				"-signer", "cert.pem", "-outform", "der", "-out", "attrs.p7s")
			attrs, err := os.ReadFile(filepath.Join(d, "attrs.p7s"))
			require.NoError(t, err)
			require.NoError(t, Verify(attrs, content, s.Certificate()))
			require.ErrorIs(t, Verify(attrs, []byte(strings.ToUpper(rootHash)), s.Certificate()), ErrBadSignature)
		})
	}

	// A certificate that did not sign: openssl and Verify both refuse.
	a, b := filepath.Join(dir, "rsa-pkcs1"), filepath.Join(dir, "ec-sec1")
	out, err := smimeVerify(openssl, dir, filepath.Join(a, "ours.p7s"), "roothash", filepath.Join(b, "cert.pem"))
	require.Error(t, err, "openssl accepted a signature with the wrong certificate: %s", out)
	sig, err := os.ReadFile(filepath.Join(a, "ours.p7s"))
	require.NoError(t, err)
	certPEM, err := os.ReadFile(filepath.Join(b, "cert.pem"))
	require.NoError(t, err)
	cert, err := ParseCertificate(certPEM)
	require.NoError(t, err)
	require.ErrorIs(t, Verify(sig, content, cert), ErrNoSigner)

	// Changed content: both refuse.
	require.NoError(t, os.WriteFile(filepath.Join(a, "roothash"), []byte(strings.Replace(rootHash, "9", "8", 1)), 0o644))
	out, err = smimeVerify(openssl, a, "ours.p7s", "roothash", "cert.pem")
	require.Error(t, err, "openssl accepted a signature of other content: %s", out)
}
