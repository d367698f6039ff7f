package builder

// nix/spec.nix, the pure half of lib.portableService, gives specs that
// LoadSpec takes: checked here with nix-instantiate for the options of
// issue 11 (make nix-check checks the golden portable spec).

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

func evalSpec(t *testing.T, nixInstantiate, root, expr string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(nixInstantiate, "--eval", "--strict", "--json", "-E", expr)
	cmd.Dir = root
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return nil, &specError{string(ee.Stderr)}
	}
	return out, err
}

type specError struct{ stderr string }

func (e *specError) Error() string { return e.stderr }

func TestNixSpecOptions(t *testing.T) {
	nixInstantiate := testtool.Need(t, "nix-instantiate")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	out, err := evalSpec(t, nixInstantiate, root, `import ./nix/spec.nix (import ./nix/test-args-ext.nix)`)
	require.NoError(t, err)
	golden, err := os.ReadFile(filepath.Join(root, "nix", "golden-spec-ext.json"))
	require.NoError(t, err)
	require.JSONEq(t, string(golden), string(out))

	// The spec is one the builder takes, every field known.
	p := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(p, out, 0o644))
	s, err := LoadSpec(p)
	require.NoError(t, err)
	require.Equal(t, "sysext", s.Kind)
	require.Equal(t, "/run/keys/mkportable.key", s.SignKey)
	set, errs := s.settings()
	require.Empty(t, errs)
	require.True(t, set.ddi && set.verity && set.signed)

	// Keys are never store paths, nor strings depending on one; a path
	// value is taken by its name, not copied into the store.
	for _, bad := range []string{`"/nix/store/0000-key.pem"`, `"relative/key.pem"`, `"${builtins.toFile "k" "x"}"`} {
		_, err := evalSpec(t, nixInstantiate, root, `import ./nix/spec.nix ((import ./nix/test-args-ext.nix) // { signKey = `+bad+`; })`)
		require.ErrorContains(t, err, "signKey must be an absolute path outside the Nix store", bad)
	}
	out, err = evalSpec(t, nixInstantiate, root, `(import ./nix/spec.nix ((import ./nix/test-args-ext.nix) // { cert = ./flake.nix; })).cert`)
	require.NoError(t, err)
	var cert string
	require.NoError(t, json.Unmarshal(out, &cert))
	require.Equal(t, filepath.Join(root, "flake.nix"), cert)

	// A portable image keeps nixpkgs' ID=nixos under the caller's fields.
	out, err = evalSpec(t, nixInstantiate, root, `(import ./nix/spec.nix ((import ./nix/test-args.nix) // { verity = true; osRelease = { VARIANT_ID = "x"; }; }))`)
	require.NoError(t, err)
	var portable map[string]any
	require.NoError(t, json.Unmarshal(out, &portable))
	require.Equal(t, map[string]any{"ID": "nixos", "VARIANT_ID": "x"}, portable["osRelease"])
	require.Equal(t, true, portable["verity"])
	require.NotContains(t, portable, "kind")
}
