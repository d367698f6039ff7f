package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBootWithKVM checks the KVM probe with stand-ins for qemu: a guest
// that starts its test, one that hangs, and a qemu that aborts.
func TestBootWithKVM(t *testing.T) {
	tests := []struct {
		name   string
		script string
		ran    bool
		errMsg string
	}{
		{"runs", `echo "[  1.0] E2E-BEGIN systemd 252" >> "$CONSOLE"; sleep 0.5; echo E2E-DONE >> "$CONSOLE"`, true, ""},
		{"hangs", `echo "Linux version" >> "$CONSOLE"; sleep 30`, false, "no E2E-BEGIN"},
		{"aborts", `echo "failed to set MSR" >&2; exit 134`, false, "failed to set MSR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			console := filepath.Join(t.TempDir(), "console.log")
			boot := func(ctx context.Context, accel, cpu string) *exec.Cmd {
				require.Equal(t, "kvm", accel)
				cmd := exec.CommandContext(ctx, "sh", "-c", tt.script)
				cmd.Env = append(cmd.Environ(), "CONSOLE="+console)
				return cmd
			}
			start := time.Now()
			_, ran, err := bootWithKVM(context.Background(), boot, console, time.Second)
			require.Equal(t, tt.ran, ran)
			if tt.errMsg != "" {
				require.ErrorContains(t, err, tt.errMsg)
			} else {
				require.NoError(t, err)
			}
			require.Less(t, time.Since(start), 10*time.Second, "the probe must not wait for a hung guest")
		})
	}
}
