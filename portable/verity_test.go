package portable

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVerityProblems encodes what the guests did with mkportable's images
// (e2e/ext_test.go; systemd 252.39 and 257.13, the same in both).
func TestVerityProblems(t *testing.T) {
	sidecars := VerityState{SidecarsLooked: true, RootHashFile: true, VerityFile: true, TreeChecked: true}
	signed := sidecars
	signed.SignatureFile = true
	ddi := VerityState{DDI: true, HashPartition: true, SignaturePartition: true, TreeChecked: true}
	with := func(s VerityState, f func(*VerityState)) VerityState { f(&s); return s }
	tests := []struct {
		name, guest string
		kind        Kind
		state       VerityState
		want        map[string]Severity
	}{
		{"no verity", "mounted as it is", KindPortable, VerityState{SidecarsLooked: true}, nil},
		{"sidecars", "dm-verity target, active", KindPortable, sidecars, nil},
		{"signed sidecars, not checked", "active where /etc/verity.d has the certificate", KindPortable, signed,
			map[string]Severity{"verity-signature-unchecked": Note}},
		{"signed sidecars, checked", "Userspace PKCS#7 validation succeeded, active", KindPortable,
			with(signed, func(s *VerityState) { s.SignatureChecked = true }), nil},
		{"a flipped byte", "data block N is corrupted, the read fails with EIO", KindPortable,
			with(sidecars, func(s *VerityState) { s.TreeError = "data block 3 does not match" }), map[string]Severity{"verity-mismatch": Fails}},
		{"a flipped byte in a sysext", "not merged", KindSysext,
			with(sidecars, func(s *VerityState) { s.TreeError = "x" }), map[string]Severity{"verity-mismatch": Refused}},
		{"root hash only", "active, no dm device", KindPortable,
			VerityState{SidecarsLooked: true, RootHashFile: true}, map[string]Severity{"verity-no-tree": Ignored}},
		{"tree only", "active, no dm device", KindPortable,
			VerityState{SidecarsLooked: true, VerityFile: true}, map[string]Severity{"verity-no-roothash": Ignored}},
		{"signature without root hash", "the signature is read only with a root hash", KindPortable,
			VerityState{SidecarsLooked: true, VerityFile: true, SignatureFile: true},
			map[string]Severity{"verity-no-roothash": Ignored, "verity-signature-unused": Ignored}},
		{"sidecars of a file not named .raw", "not looked for", KindPortable, VerityState{}, nil},
		{"signed DDI, signature by another key", "signer certificate not found, 226/NAMESPACE", KindPortable,
			with(ddi, func(s *VerityState) { s.SignatureChecked, s.SignatureError = true, "not signed by the certificate" }),
			map[string]Severity{"verity-signature": Fails}},
		{"unsigned DDI", "active, no dm device", KindPortable,
			with(ddi, func(s *VerityState) { s.SignaturePartition = false }), map[string]Severity{"verity-unsigned-ddi": Ignored}},
		{"short tree", "reads past the tree fail", KindPortable,
			with(sidecars, func(s *VerityState) { s.Uncovered = 4096 }), map[string]Severity{"verity-short-tree": Fails}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]Severity{}
			for _, p := range VerityProblems(tt.kind, tt.state) {
				got[p.Rule] = p.Severity
				require.Zero(t, p.Since, "the guests agree")
				require.Zero(t, p.Before)
			}
			if tt.want == nil {
				tt.want = map[string]Severity{}
			}
			require.Equal(t, tt.want, got, tt.guest)
		})
	}
	r := &Report{}
	r.Add(VerityProblems(KindPortable, VerityState{SidecarsLooked: true, RootHashFile: true})...)
	r.Add(Problem{Severity: Refused, Rule: "x"})
	require.Equal(t, []string{"x", "verity-no-tree"}, slices.Collect(func(yield func(string) bool) {
		for _, p := range r.Problems {
			if !yield(p.Rule) {
				return
			}
		}
	}), "Add keeps the gravest first")
}
