package pkcs7

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// selfSigned returns a self-signed certificate for key with the given
// serial number.
func selfSigned(t testing.TB, key crypto.Signer, cn string, serial int64) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<33, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	require.NoError(t, err)
	return k
}

const rootHash = "94e1534258b0223bd8636c7953ed8e04b49c136a2602f5a5ea4226fdfadc42bb"

func TestSignVerify(t *testing.T) {
	for _, c := range []struct {
		name string
		key  crypto.Signer
	}{
		{"rsa-2048", rsaKey(t)},
		{"ecdsa-p256", ecKey(t, elliptic.P256())},
		{"ecdsa-p384", ecKey(t, elliptic.P384())},
		{"ecdsa-p521", ecKey(t, elliptic.P521())},
	} {
		t.Run(c.name, func(t *testing.T) {
			cert := selfSigned(t, c.key, "signer", 7)
			s, err := NewSigner(c.key, cert)
			require.NoError(t, err)
			require.Equal(t, cert, s.Certificate())
			content := []byte(rootHash)
			for _, opts := range []SignOptions{{}, {Certificate: true}} {
				sig, err := s.Sign(content, opts)
				require.NoError(t, err)
				again, err := s.Sign(content, opts)
				require.NoError(t, err)
				require.Equal(t, sig, again, "signatures must be deterministic")
				require.NoError(t, Verify(sig, content, cert))

				// Another content.
				err = Verify(sig, []byte(rootHash[:63]+"c"), cert)
				require.ErrorIs(t, err, ErrBadSignature)
				// Another signer altogether.
				other := ecKey(t, elliptic.P256())
				err = Verify(sig, content, selfSigned(t, other, "other", 8))
				require.ErrorIs(t, err, ErrNoSigner)
				// Same issuer and serial, another key: a forged certificate.
				err = Verify(sig, content, selfSigned(t, other, "signer", 7))
				require.ErrorIs(t, err, ErrBadSignature)
				// A flipped bit of the signature value, at the end.
				bad := append([]byte{}, sig...)
				bad[len(bad)-1] ^= 1
				err = Verify(bad, content, cert)
				require.Error(t, err)
				require.True(t, errors.Is(err, ErrBadSignature) || errors.Is(err, ErrMalformed), "%v", err)
			}
			withCert, err := s.Sign(content, SignOptions{Certificate: true})
			require.NoError(t, err)
			without, err := s.Sign(content, SignOptions{})
			require.NoError(t, err)
			// The certificate is the only difference.
			a, err := parse(withCert)
			require.NoError(t, err)
			b, err := parse(without)
			require.NoError(t, err)
			require.Equal(t, cert.Raw, a.Certificates.Bytes)
			require.Empty(t, b.Certificates.FullBytes)
			a.Certificates = asn1.RawValue{}
			require.Equal(t, b, a)
		})
	}
}

func TestNewSignerRefuses(t *testing.T) {
	k1, k2 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	_, err := NewSigner(k1, selfSigned(t, k2, "k2", 1))
	require.ErrorIs(t, err, ErrKeyMismatch)
	r := rsaKey(t)
	_, err = NewSigner(r, selfSigned(t, k2, "k2", 1))
	require.ErrorIs(t, err, ErrKeyMismatch)
	_, pk, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = NewSigner(pk, selfSigned(t, pk, "ed", 1))
	require.ErrorIs(t, err, ErrUnsupportedKey)
	_, err = NewSigner(k1, nil)
	require.Error(t, err)
}

func pemBlock(typ string, der []byte, headers map[string]string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
}

func TestParsePrivateKey(t *testing.T) {
	r := rsaKey(t)
	e := ecKey(t, elliptic.P384())
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(e)
	require.NoError(t, err)
	cert := pemBlock("CERTIFICATE", selfSigned(t, r, "r", 1).Raw, nil)
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, nil)
	for _, c := range []struct {
		name string
		pem  []byte
		want crypto.PrivateKey
		err  string
	}{
		{"pkcs1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r), nil), r, ""},
		{"pkcs8 rsa", pemBlock("PRIVATE KEY", pkcs8(r), nil), r, ""},
		{"pkcs8 ec", pemBlock("PRIVATE KEY", pkcs8(e), nil), e, ""},
		{"sec1 after parameters", append(ecParams, pemBlock("EC PRIVATE KEY", sec1, nil)...), e, ""},
		{"key after certificate", append(cert, pemBlock("PRIVATE KEY", pkcs8(r), nil)...), r, ""},
		{"encrypted pkcs1", pemBlock("RSA PRIVATE KEY", []byte{1}, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}), nil, "encrypted"},
		{"encrypted pkcs8", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}, nil), nil, "encrypted"},
		{"no pem", []byte("hello"), nil, "no PEM data"},
		{"only a certificate", cert, nil, `no private key among the PEM blocks ["CERTIFICATE"]`},
		{"two keys", append(pemBlock("PRIVATE KEY", pkcs8(r), nil), pemBlock("PRIVATE KEY", pkcs8(e), nil)...), nil, "more than one private key"},
		{"garbage key", pemBlock("PRIVATE KEY", []byte{0x30, 0}, nil), nil, "PRIVATE KEY block"},
		{"too large", make([]byte, MaxPEMSize+1), nil, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.pem)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.True(t, c.want.(interface{ Equal(crypto.PrivateKey) bool }).Equal(k))
		})
	}
}

func TestParseCertificate(t *testing.T) {
	k := ecKey(t, elliptic.P256())
	cert := selfSigned(t, k, "c", 1)
	p := pemBlock("CERTIFICATE", cert.Raw, nil)
	for _, data := range [][]byte{p, cert.Raw, append(pemBlock("PRIVATE KEY", []byte{1}, nil), p...)} {
		c, err := ParseCertificate(data)
		require.NoError(t, err)
		require.Equal(t, cert.Raw, c.Raw)
	}
	_, err := ParseCertificate(append(p, p...))
	require.ErrorContains(t, err, "2 certificates")
	_, err = ParseCertificate([]byte("nothing"))
	require.ErrorContains(t, err, "no CERTIFICATE")
	_, err = ParseCertificate([]byte{0x30, 0x01, 0x00})
	require.ErrorContains(t, err, "DER certificate")

	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	s, err := ParseSigner(pemBlock("PRIVATE KEY", der, nil), p)
	require.NoError(t, err)
	require.Equal(t, cert.Raw, s.Certificate().Raw)
	_, err = ParseSigner(pemBlock("PRIVATE KEY", der, nil), pemBlock("CERTIFICATE", selfSigned(t, rsaKey(t), "r", 2).Raw, nil))
	require.ErrorIs(t, err, ErrKeyMismatch)
}

func TestVerifyRefusesMalformed(t *testing.T) {
	k := ecKey(t, elliptic.P256())
	cert := selfSigned(t, k, "c", 1)
	s, err := NewSigner(k, cert)
	require.NoError(t, err)
	sig, err := s.Sign([]byte("x"), SignOptions{})
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		sig  []byte
	}{
		{"empty", nil},
		{"trailing bytes", append(append([]byte{}, sig...), 0)},
		{"truncated", sig[:len(sig)-1]},
		{"not signedData", func() []byte { b := append([]byte{}, sig...); b[len(b)-len(sig)+14] ^= 1; return b }()},
		{"too large", make([]byte, MaxSignatureSize+1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.sig, []byte("x"), cert)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	require.Error(t, Verify(sig, []byte("x"), nil))
}

// FuzzVerify feeds hostile signatures to Verify, which must return an
// error of one of its kinds without panicking.
func FuzzVerify(f *testing.F) {
	k := ecKey(f, elliptic.P256())
	cert := selfSigned(f, k, "c", 1)
	s, err := NewSigner(k, cert)
	require.NoError(f, err)
	for _, o := range []SignOptions{{}, {Certificate: true}} {
		sig, err := s.Sign([]byte(rootHash), o)
		require.NoError(f, err)
		f.Add(sig)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		err := Verify(sig, []byte(rootHash), cert)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrNoSigner) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
