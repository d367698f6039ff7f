package verity

import (
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testkey"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/stretchr/testify/require"
)

// testSigner returns the signer of a throwaway P-256 key and its
// self-signed certificate of common name cn.
func testSigner(t *testing.T, cn string) *pkcs7.Signer {
	t.Helper()
	p := testkey.Write(t, t.TempDir(), testkey.ECDSA, cn)
	s, err := pkcs7.NewSigner(p.Key, p.Cert)
	require.NoError(t, err)
	return s
}

func TestSignRootHash(t *testing.T) {
	s := testSigner(t, "a")
	root, err := ParseRootHash("94e1534258b0223bd8636c7953ed8e04b49c136a2602f5a5ea4226fdfadc42bb")
	require.NoError(t, err)
	sig, err := SignRootHash(root, s, pkcs7.SignOptions{})
	require.NoError(t, err)
	require.NoError(t, VerifyRootHashSignature(root, sig, s.Certificate()))
	// What is signed is the lowercase hex text, without a newline.
	require.NoError(t, pkcs7.Verify(sig, []byte(root.String()), s.Certificate()))
	require.ErrorIs(t, pkcs7.Verify(sig, []byte(root.String()+"\n"), s.Certificate()), pkcs7.ErrBadSignature)
	require.ErrorIs(t, pkcs7.Verify(sig, []byte(strings.ToUpper(root.String())), s.Certificate()), pkcs7.ErrBadSignature)

	other := root
	other[31] ^= 1
	require.ErrorIs(t, VerifyRootHashSignature(other, sig, s.Certificate()), pkcs7.ErrBadSignature)
	require.ErrorIs(t, VerifyRootHashSignature(root, sig, testSigner(t, "b").Certificate()), pkcs7.ErrNoSigner)
}

func TestSidecarPaths(t *testing.T) {
	s, ok := SidecarPaths("out/web_1.raw")
	require.True(t, ok)
	require.Equal(t, Sidecars{"out/web_1.roothash", "out/web_1.verity", "out/web_1.roothash.p7s"}, s)
	for _, p := range []string{"img", "img.squashfs", ".raw", "dir/.raw", "img.raw.bak"} {
		_, ok := SidecarPaths(p)
		require.False(t, ok, p)
	}
}
