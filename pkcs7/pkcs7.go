// Package pkcs7 writes and checks detached PKCS#7 (RFC 2315) SignedData
// signatures of the shape dm-verity and systemd take for root hashes: one
// signer named by issuer and serial number, SHA-256, no signed attributes,
// with or without the signer's certificate, DER-encoded. It is what
//
//	openssl smime -sign -noattr -binary -outform der [-nocerts]
//
// writes, byte for byte for RSA keys. Signatures are deterministic: RSA
// PKCS#1 v1.5 is, and ECDSA signatures are made as RFC 6979 says.
//
// It is a small encoder of its own on encoding/asn1 rather than a general
// PKCS#7 library: those add signing-time attributes and certificates that
// these signatures must not carry, and pick random ECDSA nonces.
package pkcs7

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var (
	// ErrUnsupportedKey is wrapped by errors about a key that is neither
	// RSA nor ECDSA on a NIST curve.
	ErrUnsupportedKey = errors.New("pkcs7: unsupported key")
	// ErrKeyMismatch is wrapped when a private key is not the one of the
	// certificate it is to sign with.
	ErrKeyMismatch = errors.New("pkcs7: private key does not match the certificate")
	// ErrMalformed is wrapped by errors about a signature that is not a
	// detached PKCS#7 SignedData this package can read.
	ErrMalformed = errors.New("pkcs7: malformed signature")
	// ErrNoSigner is wrapped when a signature was not made by the given
	// certificate's subject.
	ErrNoSigner = errors.New("pkcs7: not signed by the certificate")
	// ErrBadSignature is wrapped when a signature by the certificate's
	// subject does not verify: the content or the signature was changed.
	ErrBadSignature = errors.New("pkcs7: signature does not verify")
)

// MaxSignatureSize bounds the DER signatures Verify reads.
const MaxSignatureSize = 1 << 20

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidRSA             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// digests are the digest algorithms Verify accepts, with the RSA and ECDSA
// signature algorithms that name them too.
var digests = []struct {
	oid, rsa, ecdsa asn1.ObjectIdentifier
	hash            crypto.Hash
}{
	{oidSHA256, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, oidECDSAWithSHA256, crypto.SHA256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, crypto.SHA384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, crypto.SHA512},
}

// The ASN.1 of RFC 2315 this package writes and reads.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional,tag:0"` // [0] EXPLICIT
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT SET OF Certificate
	CRLs             asn1.RawValue `asn1:"optional,tag:1"` // [1] IMPLICIT
	SignerInfos      []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	AuthenticatedAttributes   asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT SET OF Attribute
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
	UnauthenticatedAttributes asn1.RawValue `asn1:"optional,tag:1"` // [1] IMPLICIT
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF ANY
}

// Signer signs with a private key and its certificate.
type Signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// NewSigner returns a Signer for an RSA or ECDSA private key and the
// certificate of its public key. A key of another kind gives an error
// wrapping ErrUnsupportedKey; a key that is not the certificate's, one
// wrapping ErrKeyMismatch.
func NewSigner(key crypto.PrivateKey, cert *x509.Certificate) (*Signer, error) {
	if cert == nil {
		return nil, errors.New("pkcs7: no certificate")
	}
	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("%w: RSA key: %v", ErrUnsupportedKey, err)
		}
		signer = k
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().Name {
		case "P-224", "P-256", "P-384", "P-521":
		default:
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		signer = k
	default:
		return nil, fmt.Errorf("%w: %T (want RSA or ECDSA)", ErrUnsupportedKey, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: the certificate for %q holds another public key", ErrKeyMismatch, cert.Subject)
	}
	return &Signer{key: signer, cert: cert}, nil
}

// Certificate returns the signer's certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// SignOptions choose what a signature carries besides the signature.
type SignOptions struct {
	// Certificate includes the signer's certificate, as systemd-repart
	// does in a Discoverable Disk Image's signature partition and
	// `openssl smime -sign` does without -nocerts. Verifiers do not trust
	// it: they find the signer's certificate among their own.
	Certificate bool
}

// Sign returns the DER of a detached PKCS#7 signature of content: SHA-256,
// no signed attributes. The same signer, content and options always give
// the same bytes.
func (s *Signer) Sign(content []byte, opts SignOptions) ([]byte, error) {
	digest := sha256.Sum256(content)
	var alg pkix.AlgorithmIdentifier
	switch s.key.(type) {
	case *rsa.PrivateKey:
		alg = pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue}
	case *ecdsa.PrivateKey:
		alg = pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}
	}
	// A nil random source: RSA PKCS#1 v1.5 needs none, and ECDSA then
	// derives its nonce from the key and digest (RFC 6979).
	sig, err := s.key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: sign: %w", err)
	}
	sha := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha},
		ContentInfo:      contentInfo{ContentType: oidData},
		SignerInfos: []signerInfo{{
			Version:                   1,
			IssuerAndSerialNumber:     issuerAndSerial{Issuer: asn1.RawValue{FullBytes: s.cert.RawIssuer}, Serial: s.cert.SerialNumber},
			DigestAlgorithm:           sha,
			DigestEncryptionAlgorithm: alg,
			EncryptedDigest:           sig,
		}},
	}
	if opts.Certificate {
		sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: s.cert.Raw}
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: encode SignedData: %w", err)
	}
	out, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner},
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs7: encode ContentInfo: %w", err)
	}
	return out, nil
}
