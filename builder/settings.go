package builder

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/internal/boundedfile"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/portable"
)

// Formats are the output formats Spec.Format takes.
var Formats = []string{"raw", "ddi"}

// settings are the spec's output choices, checked.
type settings struct {
	kind   portable.Kind
	arch   string
	ddi    bool
	verity bool // sidecars beside a raw image, or the DDI's partitions
	signed bool
}

// settings checks the kind, architecture, format and signing fields.
func (s Spec) settings() (settings, []error) {
	var set settings
	var errs []error
	fail := func(input, format string, args ...any) {
		errs = append(errs, &CheckError{input, fmt.Sprintf(format, args...)})
	}
	var err error
	if set.kind, err = portable.ParseKind(s.Kind); err != nil {
		fail("kind", "%q: want portable, sysext or confext", s.Kind)
	}
	set.arch = s.Architecture
	if set.arch == "" {
		a, ok := ddi.ArchFromGOARCH(runtime.GOARCH)
		if !ok {
			fail("architecture", "the build machine's architecture %s has no systemd name this builder knows; set architecture", runtime.GOARCH)
		}
		set.arch = a
	} else if !slices.Contains(portable.Architectures, set.arch) {
		fail("architecture", "%q is not one of systemd's architecture names (x86-64, arm64, arm, x86, riscv64, ...)", set.arch)
	}
	switch s.Format {
	case "", "raw":
	case "ddi":
		set.ddi, set.verity = true, true
		if _, err := ddi.TypeUUID(ddi.Root, set.arch); err != nil && set.arch != "" {
			fail("architecture", "%q: the Discoverable Partitions Specification has no root partition type for it", set.arch)
		}
	default:
		fail("format", "%q: want raw or ddi", s.Format)
	}
	set.verity = set.verity || s.Verity
	switch {
	case s.SignKey != "" && s.Cert == "":
		fail("cert", "signKey is set but cert is not: a signature needs the signer's certificate")
	case s.SignKey == "" && s.Cert != "":
		fail("signKey", "cert is set but signKey is not: a signature needs the private key")
	case s.SignKey != "":
		set.signed, set.verity = true, true
	}
	return set, errs
}

// signer reads the spec's key and certificate.
func (s Spec) signer() (*pkcs7.Signer, error) {
	key, err := boundedfile.Read(s.SignKey, pkcs7.MaxPEMSize)
	if err != nil {
		return nil, &CheckError{"signKey", err.Error()}
	}
	cert, err := boundedfile.Read(s.Cert, pkcs7.MaxPEMSize)
	if err != nil {
		return nil, &CheckError{"cert", err.Error()}
	}
	signer, err := pkcs7.ParseSigner(key, cert)
	if err != nil {
		return nil, &CheckError{"signKey " + s.SignKey + ", cert " + s.Cert, err.Error()}
	}
	return signer, nil
}
