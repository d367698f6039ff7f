package pkcs7

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// maxSigners bounds the signer infos of a signature.
const maxSigners = 16

// Verify checks that sig, a DER detached PKCS#7 signature, signs content
// and was made by the subject of cert, as systemd 252 checks a root hash
// signature against its /etc/verity.d certificates (OpenSSL's
// PKCS7_verify with PKCS7_NOINTERN|PKCS7_NOVERIFY): certificates inside
// the signature are ignored, the certificate's chain and validity are not
// checked, and every signer must be cert's subject. Signed attributes are
// accepted when present (openssl smime -sign without -noattr); the digest
// may be SHA-256, SHA-384 or SHA-512.
//
// Errors wrap ErrMalformed (not a detached SignedData), ErrNoSigner (a
// signer other than cert's subject) or ErrBadSignature.
func Verify(sig, content []byte, cert *x509.Certificate) error {
	if cert == nil {
		return fmt.Errorf("pkcs7: no certificate to verify with")
	}
	sd, err := parse(sig)
	if err != nil {
		return err
	}
	for i, si := range sd.SignerInfos {
		if err := verifySigner(si, content, cert); err != nil {
			if len(sd.SignerInfos) > 1 {
				return fmt.Errorf("signer %d of %d: %w", i+1, len(sd.SignerInfos), err)
			}
			return err
		}
	}
	return nil
}

// parse decodes a detached SignedData, every length bounded by the input.
func parse(sig []byte) (*signedData, error) {
	if len(sig) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(sig), MaxSignatureSize)
	}
	var ci contentInfo
	rest, err := asn1.Unmarshal(sig, &ci)
	if err != nil {
		return nil, fmt.Errorf("%w: not DER ContentInfo: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the signature", ErrMalformed, len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: content type %v, want signedData %v", ErrMalformed, ci.ContentType, oidSignedData)
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, fmt.Errorf("%w: no [0] SignedData in the ContentInfo", ErrMalformed)
	}
	var sd signedData
	rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd)
	if err != nil {
		return nil, fmt.Errorf("%w: SignedData: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the SignedData", ErrMalformed, len(rest))
	}
	if sd.Version != 1 {
		return nil, fmt.Errorf("%w: SignedData version %d, want 1", ErrMalformed, sd.Version)
	}
	if !sd.ContentInfo.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: signs content of type %v, want data %v", ErrMalformed, sd.ContentInfo.ContentType, oidData)
	}
	if len(sd.ContentInfo.Content.FullBytes) != 0 {
		return nil, fmt.Errorf("%w: the signature carries its content; want a detached signature", ErrMalformed)
	}
	if n := len(sd.SignerInfos); n == 0 || n > maxSigners {
		return nil, fmt.Errorf("%w: %d signers, want 1 to %d", ErrMalformed, n, maxSigners)
	}
	return &sd, nil
}

// verifySigner checks one signer info against content and cert.
func verifySigner(si signerInfo, content []byte, cert *x509.Certificate) error {
	if si.Version != 1 {
		return fmt.Errorf("%w: signer version %d, want 1 (issuer and serial number)", ErrMalformed, si.Version)
	}
	if !bytes.Equal(si.IssuerAndSerialNumber.Issuer.FullBytes, cert.RawIssuer) || si.IssuerAndSerialNumber.Serial == nil ||
		si.IssuerAndSerialNumber.Serial.Cmp(cert.SerialNumber) != 0 {
		return fmt.Errorf("%w: signed by serial %x of another issuer or serial than the certificate (%q, serial %x)",
			ErrNoSigner, si.IssuerAndSerialNumber.Serial, cert.Subject, cert.SerialNumber)
	}
	d := -1
	for i, a := range digests {
		if si.DigestAlgorithm.Algorithm.Equal(a.oid) {
			d = i
		}
	}
	if d < 0 {
		return fmt.Errorf("%w: digest algorithm %v is not SHA-256, SHA-384 or SHA-512", ErrMalformed, si.DigestAlgorithm.Algorithm)
	}
	h := digests[d].hash
	sum := h.New()
	sum.Write(content)
	digest := sum.Sum(nil)

	if len(si.AuthenticatedAttributes.FullBytes) != 0 {
		// The signature then signs the DER of the attributes, as a SET,
		// and the attributes carry the content's digest.
		signed, err := checkAttributes(si.AuthenticatedAttributes, digest)
		if err != nil {
			return err
		}
		sum := h.New()
		sum.Write(signed)
		digest = sum.Sum(nil)
	}

	alg := si.DigestEncryptionAlgorithm.Algorithm
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if !alg.Equal(oidRSA) && !alg.Equal(digests[d].rsa) {
			return fmt.Errorf("%w: signature algorithm %v with an RSA certificate", ErrBadSignature, alg)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, si.EncryptedDigest); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
	case *ecdsa.PublicKey:
		if !alg.Equal(oidECPublicKey) && !alg.Equal(digests[d].ecdsa) {
			return fmt.Errorf("%w: signature algorithm %v with an ECDSA certificate", ErrBadSignature, alg)
		}
		if !ecdsa.VerifyASN1(pub, digest, si.EncryptedDigest) {
			return fmt.Errorf("%w: ECDSA signature of the %v digest", ErrBadSignature, crypto.Hash(h))
		}
	default:
		return fmt.Errorf("%w: certificate key %T", ErrUnsupportedKey, cert.PublicKey)
	}
	return nil
}

// checkAttributes checks signed attributes: a content type of data and a
// message digest equal to digest. It returns the bytes the signature signs.
func checkAttributes(raw asn1.RawValue, digest []byte) ([]byte, error) {
	if raw.Class != asn1.ClassContextSpecific || raw.Tag != 0 || !raw.IsCompound {
		return nil, fmt.Errorf("%w: signed attributes are not [0] IMPLICIT", ErrMalformed)
	}
	var attrs []attribute
	rest, err := asn1.UnmarshalWithParams(raw.FullBytes, &attrs, "set,tag:0")
	if err != nil {
		return nil, fmt.Errorf("%w: signed attributes: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: bytes after the signed attributes", ErrMalformed)
	}
	var sawType, sawDigest bool
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidAttrContentType):
			var oid asn1.ObjectIdentifier
			if err := one(a.Values, &oid); err != nil || !oid.Equal(oidData) || sawType {
				return nil, fmt.Errorf("%w: content type attribute is not one data OID", ErrMalformed)
			}
			sawType = true
		case a.Type.Equal(oidAttrDigest):
			var d []byte
			if err := one(a.Values, &d); err != nil || sawDigest {
				return nil, fmt.Errorf("%w: message digest attribute is not one octet string", ErrMalformed)
			}
			if !bytes.Equal(d, digest) {
				return nil, fmt.Errorf("%w: the signed message digest is not the content's", ErrBadSignature)
			}
			sawDigest = true
		}
	}
	if !sawType || !sawDigest {
		return nil, fmt.Errorf("%w: signed attributes lack the content type or message digest", ErrMalformed)
	}
	signed := append([]byte{}, raw.FullBytes...)
	signed[0] = 0x31 // SET OF, the tag the signature covers
	return signed, nil
}

// one decodes the single value of an attribute's SET OF values into v.
func one(set asn1.RawValue, v any) error {
	if set.Class != asn1.ClassUniversal || set.Tag != asn1.TagSet {
		return fmt.Errorf("attribute values are not a SET")
	}
	rest, err := asn1.Unmarshal(set.Bytes, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("more than one attribute value")
	}
	return nil
}
