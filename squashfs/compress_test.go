package squashfs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewCompressor(t *testing.T) {
	tests := []struct {
		spec    string
		want    Compressor
		wantErr string
	}{
		{spec: "", want: XZCompressor{}},
		{spec: "xz", want: XZCompressor{}},
		{spec: "XZ:9", want: XZCompressor{Level: 9}},
		{spec: "gzip", want: GzipCompressor{Level: 9}},
		{spec: "gzip:1", want: GzipCompressor{Level: 1}},
		{spec: "zlib:6", want: GzipCompressor{Level: 6}},
		{spec: "zstd", want: ZstdCompressor{}},
		{spec: "zstd:19", want: ZstdCompressor{Level: 19}},
		{spec: "zstd:1", want: ZstdCompressor{Level: 1}},
		{spec: "lz4", want: LZ4Compressor{}},
		{spec: "none", want: NoCompression{}},
		{spec: "zstd:23", wantErr: `compression "zstd:23": zstd levels are 1 to 22`},
		{spec: "zstd:0", wantErr: `zstd levels are 1 to 22`},
		{spec: "xz:10", wantErr: `xz levels are 1 to 9`},
		{spec: "gzip:-1", wantErr: `gzip levels are 1 to 9`},
		{spec: "zstd:", wantErr: `compression "zstd:": level "" is not a number`},
		{spec: "zstd:high", wantErr: `level "high" is not a number`},
		{spec: "lz4:9", wantErr: `compression "lz4:9": lz4 takes no level`},
		{spec: "none:1", wantErr: `none takes no level`},
		{spec: "brotli", wantErr: `unknown compression "brotli"`},
		{spec: "brotli:5", wantErr: `unknown compression "brotli:5"`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			c, err := NewCompressor(tc.spec)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
}

// TestZstdOptions checks the compressor options block: the level when it
// is not the default, as mksquashfs writes it.
func TestZstdOptions(t *testing.T) {
	require.Nil(t, ZstdCompressor{}.Options(1<<20))
	require.Nil(t, ZstdCompressor{Level: 15}.Options(1<<20))
	require.Equal(t, []byte{19, 0, 0, 0}, ZstdCompressor{Level: 19}.Options(1<<20))
	_, err := ZstdCompressor{Level: 23}.NewEncoder(1 << 20)
	require.ErrorContains(t, err, "zstd: level 23: want 1 to 22")
	_, err = ZstdCompressor{}.NewEncoder(2 << 20)
	require.ErrorContains(t, err, "block size")
}
