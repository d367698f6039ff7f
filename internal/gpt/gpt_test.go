package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"
)

// memDisk is an in-memory disk.
type memDisk []byte

func (d memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(d[off:], p), nil }

var (
	rootType   = MustParseGUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	verityType = MustParseGUID("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5")
)

// sample returns a table of two partitions on a disk of 4 MiB and the
// disk.
func sample(t *testing.T, ss int) (*Table, []byte) {
	t.Helper()
	size := uint64(4 << 20)
	tab := New(size/512, MustParseGUID("01234567-89ab-cdef-0123-456789abcdef"))
	if ss == 4096 {
		tab = &Table{SectorSize: 4096, Sectors: size / 4096, DiskGUID: tab.DiskGUID, FirstUsableLBA: 256,
			LastUsableLBA: size/4096 - 6, Entries: Entries}
	}
	per := uint64(1<<20) / uint64(ss)
	tab.Partitions = []Partition{
		{Type: rootType, UUID: MustParseGUID("94e15342-58b0-223b-d863-6c7953ed8e04"), FirstLBA: per, LastLBA: 2*per - 1,
			Attributes: 1 << 60, Name: "root-x86-64"},
		{Type: verityType, UUID: MustParseGUID("b49c136a-2602-f5a5-ea42-26fdfadc42bb"), FirstLBA: 2 * per, LastLBA: 2*per + 7,
			Name: "ünïcødé 𝄞 name of 36 units max ok"},
	}
	disk := make(memDisk, size)
	require.NoError(t, tab.Write(disk))
	return tab, disk
}

func TestRoundTrip(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		tab, disk := sample(t, ss)
		got, err := Read(bytes.NewReader(disk), int64(len(disk)))
		require.NoError(t, err)
		require.NoError(t, got.BackupError)
		for i := range tab.Partitions {
			tab.Partitions[i].Index = i + 1
		}
		require.Equal(t, tab, got)
	}
}

func TestLayout(t *testing.T) {
	_, disk := sample(t, 512)
	// Protective MBR as libfdisk writes it.
	require.Equal(t, []byte{0, 0, 2, 0, 0xee, 0xff, 0xff, 0xff, 1, 0, 0, 0}, []byte(disk[446:458]))
	require.Equal(t, uint32(8191), binary.LittleEndian.Uint32(disk[458:]))
	require.Equal(t, []byte{0x55, 0xaa}, []byte(disk[510:512]))
	// Primary header: first usable 2048, last usable total-34, array at
	// LBA 2, disk GUID mixed-endian.
	h := disk[512:1024]
	require.Equal(t, "EFI PART", string(h[:8]))
	require.Equal(t, uint64(1), binary.LittleEndian.Uint64(h[24:]))
	require.Equal(t, uint64(8191), binary.LittleEndian.Uint64(h[32:]))
	require.Equal(t, uint64(2048), binary.LittleEndian.Uint64(h[40:]))
	require.Equal(t, uint64(8192-34), binary.LittleEndian.Uint64(h[48:]))
	require.Equal(t, []byte{0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd, 0x01, 0x23}, []byte(h[56:66]))
	require.Equal(t, uint64(2), binary.LittleEndian.Uint64(h[72:]))
	// The entry's type GUID is mixed-endian too.
	require.Equal(t, []byte{0xe3, 0xbc, 0x68, 0x4f, 0xcd, 0xe8, 0xb1, 0x4d, 0x96, 0xe7}, []byte(disk[1024:1034]))
	// Backup header at the last sector, pointing back at LBA 1, with its
	// array just before it.
	b := disk[len(disk)-512:]
	require.Equal(t, uint64(8191), binary.LittleEndian.Uint64(b[24:]))
	require.Equal(t, uint64(1), binary.LittleEndian.Uint64(b[32:]))
	require.Equal(t, uint64(8191-32), binary.LittleEndian.Uint64(b[72:]))
	require.Equal(t, []byte(disk[1024:1024+128*128]), []byte(disk[len(disk)-512-128*128:len(disk)-512]))
}

func TestWriteRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Table)
		want string
	}{
		{"no type", func(t *Table) { t.Partitions[0].Type = GUID{} }, "has no type"},
		{"before usable", func(t *Table) { t.Partitions[0].FirstLBA = 100 }, "outside the usable sectors"},
		{"past usable", func(t *Table) { t.Partitions[1].LastLBA = t.LastUsableLBA + 1 }, "outside the usable sectors"},
		{"overlap", func(t *Table) { t.Partitions[1].FirstLBA = t.Partitions[0].LastLBA }, "overlap"},
		{"long name", func(t *Table) { t.Partitions[0].Name = "0123456789012345678901234567890123456" }, "37 UTF-16 units"},
		{"small disk", func(t *Table) { t.Sectors = t.LastUsableLBA + 10 }, "do not fit a disk"},
		{"sector size", func(t *Table) { t.SectorSize = 1024 }, "sector size 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab, _ := sample(t, 512)
			c.edit(tab)
			err := tab.Write(make(memDisk, 4<<20))
			require.ErrorContains(t, err, c.want)
		})
	}
}

// reseal recomputes the CRCs of the primary header at LBA 1 and its array
// after an edit, so that Read gets past them to the check under test.
func reseal(d []byte) {
	h := d[512:1024]
	n, es := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
	if arr := uint64(n) * uint64(es); arr <= 1<<20 && 1024+arr <= uint64(len(d)) {
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(d[1024:1024+arr]))
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
}

func TestReadRefuses(t *testing.T) {
	put64 := func(off int, v uint64) func([]byte) {
		return func(d []byte) { binary.LittleEndian.PutUint64(d[off:], v) }
	}
	put32 := func(off int, v uint32) func([]byte) {
		return func(d []byte) { binary.LittleEndian.PutUint32(d[off:], v) }
	}
	for _, c := range []struct {
		name   string
		edit   func([]byte)
		reseal bool
		want   error
		msg    string
	}{
		{"no signature", func(d []byte) { d[512] = 'X' }, false, ErrNoGPT, "no \"EFI PART\""},
		{"no mbr signature", func(d []byte) { d[510] = 0 }, false, ErrMalformed, "no MBR boot signature"},
		{"no protective partition", func(d []byte) { d[446+4] = 0x83 }, false, ErrMalformed, "type 0xee"},
		{"header crc", func(d []byte) { d[512+40] ^= 1 }, false, ErrMalformed, "header CRC"},
		{"array crc", func(d []byte) { d[1024+60] ^= 1 }, false, ErrMalformed, "partition array CRC"},
		{"revision", put32(512+8, 2), true, ErrMalformed, "revision"},
		{"header size", put32(512+12, 600), true, ErrMalformed, "header size 600"},
		{"my lba", put64(512+24, 7), true, ErrMalformed, "it says it is at LBA 7"},
		{"usable past disk", put64(512+48, 1<<40), true, ErrMalformed, "usable sectors"},
		{"entry size", put32(512+84, 100), true, ErrMalformed, "entry size 100"},
		{"huge array", put32(512+80, 1<<30), true, ErrMalformed, "entries of 128 bytes"},
		{"array past disk", put64(512+72, 8190), true, ErrMalformed, "outside the disk"},
		{"partition past usable", put64(1024+40, 8191), true, ErrMalformed, "partition 1 (sectors 2048 to 8191)"},
		{"overlap", put64(1024+128+32, 4000), true, ErrMalformed, "partitions 1 and 2 overlap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, disk := sample(t, 512)
			c.edit(disk)
			if c.reseal {
				reseal(disk)
			}
			_, err := Read(bytes.NewReader(disk), int64(len(disk)))
			require.ErrorIs(t, err, c.want)
			require.ErrorContains(t, err, c.msg)
		})
	}
	_, err := Read(bytes.NewReader(make([]byte, 1000)), 1000)
	require.ErrorIs(t, err, ErrNoGPT)
	// A truncated disk: the header points past its end.
	_, disk := sample(t, 512)
	_, err = Read(bytes.NewReader(disk[:1<<20]), 1<<20)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestReadBackup(t *testing.T) {
	_, disk := sample(t, 512)
	disk[len(disk)-512+40] ^= 1 // backup header CRC
	tab, err := Read(bytes.NewReader(disk), int64(len(disk)))
	require.NoError(t, err)
	require.ErrorContains(t, tab.BackupError, "header at LBA 8191: header CRC")

	_, disk = sample(t, 512)
	disk[len(disk)-512-128*128+5] ^= 1 // backup array
	tab, err = Read(bytes.NewReader(disk), int64(len(disk)))
	require.NoError(t, err)
	require.ErrorContains(t, tab.BackupError, "partition array CRC")

	// The disk grew after the table was written: the backup is not at the
	// end, but where the header says, and is sound.
	_, disk = sample(t, 512)
	disk = append(disk, make([]byte, 1<<20)...)
	tab, err = Read(bytes.NewReader(disk), int64(len(disk)))
	require.NoError(t, err)
	require.NoError(t, tab.BackupError)
}

func TestGUID(t *testing.T) {
	g, err := ParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	require.NoError(t, err)
	require.Equal(t, rootType, g)
	require.Equal(t, "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", g.String())
	for _, s := range []string{"", "4f68bce3e8cd4db196e7fbcaf984b709", "4f68bce3-e8cd-4db1-96e7-fbcaf984b70g", "4f68bce3-e8cd-4db1-96e7_fbcaf984b709"} {
		_, err := ParseGUID(s)
		require.Error(t, err, s)
	}
	var b [16]byte
	g.put(b[:])
	require.Equal(t, g, getGUID(b[:]))
}

func FuzzRead(f *testing.F) {
	// A small disk: 128 sectors, partitions from LBA 34.
	tab := New(128, MustParseGUID("01234567-89ab-cdef-0123-456789abcdef"))
	tab.FirstUsableLBA = 34
	tab.Partitions = []Partition{{Type: rootType, FirstLBA: 34, LastLBA: 60, Name: "a"}, {Type: verityType, FirstLBA: 61, LastLBA: 62, Name: "b"}}
	disk := make(memDisk, 128*512)
	require.NoError(f, tab.Write(disk))
	f.Add([]byte(disk))
	f.Fuzz(func(t *testing.T, d []byte) {
		tab, err := Read(bytes.NewReader(d), int64(len(d)))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoGPT) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		for _, p := range tab.Partitions {
			if (p.LastLBA+1)*uint64(tab.SectorSize) > uint64(len(d)) {
				t.Fatalf("partition %d ends past the disk", p.Index)
			}
		}
	})
}
