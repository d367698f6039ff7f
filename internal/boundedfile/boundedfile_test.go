package boundedfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(name, []byte("12345"), 0o644))
	tests := []struct {
		name    string
		file    string
		limit   int64
		want    string
		wantErr error
	}{
		{"under the limit", name, 6, "12345", nil},
		{"at the limit", name, 5, "12345", nil},
		{"over the limit", name, 4, "", ErrTooLarge},
		{"endless", "/dev/zero", 1 << 10, "", ErrTooLarge},
		{"missing", filepath.Join(dir, "none"), 10, "", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.file, tt.limit)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.ErrorContains(t, err, tt.file)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}
