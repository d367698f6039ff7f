// Package testkey makes throwaway signing keys and self-signed
// certificates for tests, written as PEM files in a test's directory: no
// private key is ever committed.
package testkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Algorithm is the kind of key Write makes.
type Algorithm string

const (
	RSA   Algorithm = "rsa"   // RSA 2048: deterministic signatures
	ECDSA Algorithm = "ecdsa" // P-256
)

// Pair is a key and its certificate, as files and parsed.
type Pair struct {
	KeyPath, CertPath string
	Key               crypto.Signer
	Cert              *x509.Certificate
}

// Write makes a key of alg and a self-signed certificate of common name
// cn, and writes them to dir/CN.key (PKCS#8 PEM) and dir/CN.crt (PEM).
func Write(t testing.TB, dir string, alg Algorithm, cn string) Pair {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case ECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("testkey: unknown algorithm %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{KeyPath: filepath.Join(dir, cn+".key"), CertPath: filepath.Join(dir, cn+".crt"), Key: key, Cert: cert}
	if err := os.WriteFile(p.KeyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.CertPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Reuse returns the key and certificate Write left in dir for cn, or
// writes them if there are none: tests whose outputs are compared across
// runs (the e2e test's signed images, whose console logs are replayed)
// sign with the same key every time. The key is a throwaway one all the
// same, kept in a cache directory, never committed.
func Reuse(t testing.TB, dir string, alg Algorithm, cn string) Pair {
	t.Helper()
	p := Pair{KeyPath: filepath.Join(dir, cn+".key"), CertPath: filepath.Join(dir, cn+".crt")}
	keyPEM, kerr := os.ReadFile(p.KeyPath)
	certPEM, cerr := os.ReadFile(p.CertPath)
	if kerr != nil || cerr != nil {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return Write(t, dir, alg, cn)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || cb == nil {
		t.Fatalf("testkey: %s or %s is not PEM: remove them", p.KeyPath, p.CertPath)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatalf("testkey: %s: %v", p.KeyPath, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("testkey: %s holds a %T", p.KeyPath, key)
	}
	if p.Cert, err = x509.ParseCertificate(cb.Bytes); err != nil {
		t.Fatalf("testkey: %s: %v", p.CertPath, err)
	}
	p.Key = signer
	return p
}
