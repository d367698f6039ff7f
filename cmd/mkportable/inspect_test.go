package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

// badImage builds the fixture's image with the builder's checks bypassed,
// changed by mutate, and returns its path.
func badImage(t *testing.T, file string, mutate func(tree *squashfs.Tree)) string {
	t.Helper()
	flags, storePath := storeFixture(t)
	spec := builder.Spec{Name: "web-server", Version: "1", StorePaths: []string{storePath},
		Substitutions: map[string]string{"web": storePath}}
	for i := 0; i < len(flags); i += 2 {
		switch flags[i] {
		case "--unit":
			spec.Units = append(spec.Units, flags[i+1])
		case "--store-dir":
			spec.StoreDir = flags[i+1]
		}
	}
	img, err := builder.Layout(context.Background(), spec, builder.Options{})
	require.NoError(t, err)
	if mutate != nil {
		mutate(img.Tree)
	}
	out := filepath.Join(t.TempDir(), file)
	_, err = squashfs.WriteFile(context.Background(), out, img.Tree, squashfs.Options{})
	require.NoError(t, err)
	return out
}

// TestInspectJSON checks the contract's JSON: severity in each problem,
// outcome per version, units with attached.
func TestInspectJSON(t *testing.T) {
	img := badImage(t, "web-server_1.raw", func(tree *squashfs.Tree) {
		require.NoError(t, tree.Remove("/var/tmp"))
		require.NoError(t, tree.AddBytes("/etc/systemd/system/third.service", squashfs.Attr{Mode: 0o644}, []byte("[Service]\nExecStart=/x\n")))
	})
	code, stdout, stderr := runCLI(t, "inspect", "--json", img)
	require.Equal(t, 1, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	keys := []string{}
	for k := range got {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"image", "name", "matches", "profile", "osReleasePath", "osRelease", "units", "problems", "outcome",
		// issue 11: added fields
		"kind", "format", "size", "partitions", "verity", "extensionReleasePath", "extensionRelease", "extensions"}, keys)
	require.Equal(t, "portable", got["kind"])
	require.Equal(t, "squashfs", got["format"])
	require.Equal(t, []any{}, got["partitions"])
	require.Equal(t, map[string]any{"source": "none", "signed": false, "treeMatches": nil, "signatureVerified": nil}, got["verity"])
	require.Equal(t, img, got["image"])
	require.Equal(t, "web-server", got["name"])
	require.Equal(t, []any{"web-server"}, got["matches"])
	require.Equal(t, "default", got["profile"])
	require.Equal(t, "/etc/os-release", got["osReleasePath"])
	require.Equal(t, map[string]any{"252": "fails", "257": "fails"}, got["outcome"])
	require.Contains(t, got["units"], map[string]any{"name": "third.service", "path": "/etc/systemd/system/third.service", "attached": false})
	require.Contains(t, got["units"], map[string]any{"name": "web-server.service", "path": "/etc/systemd/system/web-server.service", "attached": true})
	var res inspection
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Len(t, res.Problems, 2)
	require.Equal(t, "fails", string(res.Problems[0].Severity))
	require.Equal(t, "mount-point-missing", res.Problems[0].Rule)
	require.Equal(t, "/var/tmp", res.Problems[0].Path)
	require.Equal(t, "ignored", string(res.Problems[1].Severity))
	require.Contains(t, stdout, `"since": 0`)
	require.Contains(t, stdout, `"before": 0`)
}

func TestInspectHuman(t *testing.T) {
	img := badImage(t, "web-server_1.raw", func(tree *squashfs.Tree) {
		require.NoError(t, tree.AddBytes("/etc/systemd/system/web-server-x.service", squashfs.Attr{Mode: 0o644}, nil))
		require.NoError(t, tree.AddBytes("/etc/systemd/system/web-server.mount", squashfs.Attr{Mode: 0o644}, []byte("[Mount]\n")))
	})
	code, stdout, _ := runCLI(t, "inspect", img)
	require.Equal(t, 1, code)
	require.Contains(t, stdout, "outcome     systemd 252: fails, systemd 257: active\n")
	fails := strings.Index(stdout, "fails: attached, but a unit fails when it starts\n  - [unit-empty] /etc/systemd/system/web-server-x.service: is empty")
	ignored := strings.Index(stdout, "ignored: attached without these\n")
	require.Positive(t, fails)
	require.Greater(t, ignored, fails)
	require.Contains(t, stdout, "(systemd before 257 only)")
	require.Contains(t, stdout, "(systemd 257 and later only)")
	require.Contains(t, stdout, "[unit-type-not-attached] /etc/systemd/system/web-server.mount")
}

func TestInspectMatchAndProfile(t *testing.T) {
	img := badImage(t, "web-server_1.raw", func(tree *squashfs.Tree) {
		require.NoError(t, tree.Remove("/etc/resolv.conf"))
	})
	code, stdout, _ := runCLI(t, "inspect", img)
	require.Equal(t, 1, code, "the default profile binds /etc/resolv.conf")
	require.Contains(t, stdout, "/etc/resolv.conf is missing")
	code, stdout, stderr := runCLI(t, "inspect", "--profile", "strict", img)
	require.Equal(t, 0, code, "%s%s", stdout, stderr)
	require.Contains(t, stdout, "outcome     systemd 252: active, systemd 257: active\nnotes\n  - [profile-sandbox]")

	code, stdout, _ = runCLI(t, "inspect", "--match", "other", "--json", img)
	require.Equal(t, 1, code)
	require.Contains(t, stdout, `"rule": "match-not-in-prefixes"`)

	code, _, stderr = runCLI(t, "inspect", "--profile", "lax", img)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--profile "lax"`)
	code, _, _ = runCLI(t, "inspect")
	require.Equal(t, 2, code)
}

func TestInspectRefused(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		mutate     func(tree *squashfs.Tree)
		want       string
	}{
		{"no os-release", "web-server_1.raw", func(tree *squashfs.Tree) { require.NoError(t, tree.Remove("/etc/os-release")) },
			"[no-os-release] neither /etc/os-release nor /usr/lib/os-release exists"},
		{"no unit for the name", "other_1.raw", nil, "[match-not-in-prefixes]"},
		{"a name portablectl cannot derive", "web server_1.raw", nil, "[image-name]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img := badImage(t, tt.file, tt.mutate)
			code, stdout, _ := runCLI(t, "inspect", img)
			require.Equal(t, 1, code)
			require.Contains(t, stdout, "refused: portablectl attach refuses the image\n")
			require.Contains(t, stdout, tt.want)
		})
	}
}

// A cancelled context (SIGINT, SIGTERM) ends inspect at once with an error.
func TestInspectCancelled(t *testing.T) {
	img := badImage(t, "web-server_1.raw", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut strings.Builder
	code := run(ctx, []string{"inspect", img}, &out, &errOut)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "context canceled")
}
