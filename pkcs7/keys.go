package pkcs7

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MaxPEMSize bounds the key and certificate files this package reads.
const MaxPEMSize = 1 << 20

// ErrEncryptedKey is wrapped when a private key is protected by a
// passphrase, which this package does not ask for.
var ErrEncryptedKey = errors.New("pkcs7: private key is encrypted")

// ParsePrivateKey parses a PEM private key: PKCS#1 ("RSA PRIVATE KEY"),
// PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY", possibly after an
// "EC PARAMETERS" block, as `openssl ecparam -genkey` writes it). Other
// blocks, such as a certificate in the same file, are skipped; the data
// must hold exactly one private key, unencrypted.
func ParsePrivateKey(data []byte) (crypto.PrivateKey, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("pkcs7: key file of %d bytes is larger than %d", len(data), MaxPEMSize)
	}
	var key crypto.PrivateKey
	var seen []string
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		seen = append(seen, b.Type)
		var k crypto.PrivateKey
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, fmt.Errorf("%w: %s block with a passphrase; decrypt it first (openssl pkey -in KEY -out PLAIN)", ErrEncryptedKey, b.Type)
			}
			if b.Type == "RSA PRIVATE KEY" {
				k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
			} else {
				k, err = x509.ParseECPrivateKey(b.Bytes)
			}
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: PKCS#8 with a passphrase; decrypt it first (openssl pkey -in KEY -out PLAIN)", ErrEncryptedKey)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pkcs7: %s block: %w", b.Type, err)
		}
		if key != nil {
			return nil, fmt.Errorf("pkcs7: more than one private key in the PEM data")
		}
		key = k
	}
	if key == nil {
		if len(seen) == 0 {
			return nil, fmt.Errorf("pkcs7: no PEM data in the key file")
		}
		return nil, fmt.Errorf("pkcs7: no private key among the PEM blocks %q", seen)
	}
	return key, nil
}

// ParseCertificate parses a certificate: one "CERTIFICATE" PEM block (as
// systemd reads the .crt files of /etc/verity.d) or DER.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("pkcs7: certificate file of %d bytes is larger than %d", len(data), MaxPEMSize)
	}
	if len(data) > 0 && data[0] == 0x30 { // a DER SEQUENCE, not PEM text
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("pkcs7: DER certificate: %w", err)
		}
		return c, nil
	}
	var certs [][]byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, b.Bytes)
		}
	}
	switch len(certs) {
	case 0:
		return nil, fmt.Errorf("pkcs7: no CERTIFICATE PEM block")
	case 1:
	default:
		return nil, fmt.Errorf("pkcs7: %d certificates in one file; give the signer's alone", len(certs))
	}
	c, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return nil, fmt.Errorf("pkcs7: certificate: %w", err)
	}
	return c, nil
}

// ParseSigner returns the Signer of a PEM private key and a PEM (or DER)
// certificate, checking that the key is the certificate's.
func ParseSigner(keyPEM, certData []byte) (*Signer, error) {
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertificate(certData)
	if err != nil {
		return nil, err
	}
	return NewSigner(key, cert)
}
