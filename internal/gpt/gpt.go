// Package gpt writes and reads GUID Partition Tables (UEFI 2.10, section
// 5.3): the protective MBR, the primary header and partition entry array
// at the start of the disk, and their backup at its end.
//
// It is our own rather than go-diskfs's partition/gpt for three reasons:
// go-diskfs fixes the first usable LBA at 34 (libfdisk and systemd-repart
// use 2048, the 1 MiB grain), writes through a backend.File it syncs after
// each of its five writes instead of an io.WriterAt, and its reader
// allocates the partition array at the size a header claims, which a
// hostile image sets. Read bounds everything by the input.
package gpt

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
)

const (
	// EntrySize is the size of a partition entry this package writes.
	EntrySize = 128
	// Entries is the number of entries of the array this package writes:
	// 128, 32 sectors of 512 bytes, what libfdisk writes.
	Entries = 128
	// MaxNameLen is the longest partition name, in UTF-16 code units.
	MaxNameLen = 36
	// MaxArraySize bounds the partition entry array Read accepts.
	MaxArraySize = 1 << 20

	headerSize = 92
	signature  = "EFI PART"
	revision   = 0x00010000
)

var (
	// ErrNoGPT is wrapped when a disk has no GPT header at LBA 1, for
	// sectors of 512 or 4096 bytes.
	ErrNoGPT = errors.New("gpt: no GUID partition table")
	// ErrMalformed is wrapped by errors about a GPT that is present but
	// broken or out of bounds.
	ErrMalformed = errors.New("gpt: malformed partition table")
)

// GUID is a GUID in the byte order of its text form (as systemd's
// sd_id128_t keeps it); on disk, GPT stores the first three fields
// little-endian.
type GUID [16]byte

// ParseGUID parses the text form, 8-4-4-4-12 hex digits, of either case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("gpt: %q is not a GUID (8-4-4-4-12 hex digits)", s)
	}
	if _, err := hex.Decode(g[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:36])); err != nil {
		return g, fmt.Errorf("gpt: %q is not a GUID: %w", s, err)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a bad one.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the lowercase text form.
func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsZero reports whether g is all zeros, the type of an unused entry.
func (g GUID) IsZero() bool { return g == GUID{} }

// put stores g in GPT's mixed-endian form.
func (g GUID) put(b []byte) {
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:16], g[8:16])
}

// getGUID reads a mixed-endian GUID.
func getGUID(b []byte) GUID {
	return GUID{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
}

// Partition is one partition entry.
type Partition struct {
	Index             int  // 1-based entry number; Read sets it, Write uses the slice order
	Type              GUID // partition type
	UUID              GUID // unique partition GUID
	FirstLBA, LastLBA uint64
	Attributes        uint64
	Name              string
}

// Table is a partition table and the disk it describes.
type Table struct {
	SectorSize     int    // bytes of a logical sector
	Sectors        uint64 // sectors of the disk
	DiskGUID       GUID
	FirstUsableLBA uint64
	LastUsableLBA  uint64
	Entries        int // entries of the partition array
	Partitions     []Partition
	// BackupError, set by Read, says what is wrong with the backup table
	// at the end of the disk; nil when it mirrors the primary one.
	BackupError error
}

// New returns an empty table for a disk of the given number of 512-byte
// sectors, laid out as libfdisk lays out a disk of 1 MiB grain: 128
// entries, the first usable LBA at 2048 (1 MiB), the last one just before
// the backup array.
func New(sectors uint64, disk GUID) *Table {
	return &Table{SectorSize: 512, Sectors: sectors, DiskGUID: disk, FirstUsableLBA: 2048,
		LastUsableLBA: sectors - 2 - Entries*EntrySize/512, Entries: Entries}
}

// arraySectors is the number of sectors of the partition entry array.
func (t *Table) arraySectors() uint64 {
	return (uint64(t.Entries)*EntrySize + uint64(t.SectorSize) - 1) / uint64(t.SectorSize)
}

// check reports whether the table can be written as it is.
func (t *Table) check() error {
	ss := uint64(t.SectorSize)
	if t.SectorSize != 512 && t.SectorSize != 4096 {
		return fmt.Errorf("gpt: sector size %d, want 512 or 4096", t.SectorSize)
	}
	if t.Entries < 1 || t.Entries*EntrySize > MaxArraySize || len(t.Partitions) > t.Entries {
		return fmt.Errorf("gpt: %d partitions in %d entries", len(t.Partitions), t.Entries)
	}
	if t.FirstUsableLBA < 2+t.arraySectors() || t.LastUsableLBA < t.FirstUsableLBA ||
		t.LastUsableLBA+1+t.arraySectors() >= t.Sectors || t.Sectors > 1<<63/ss {
		return fmt.Errorf("gpt: usable sectors %d to %d do not fit a disk of %d sectors with %d array sectors",
			t.FirstUsableLBA, t.LastUsableLBA, t.Sectors, t.arraySectors())
	}
	ps := append([]Partition{}, t.Partitions...)
	for i, p := range ps {
		if p.Type.IsZero() {
			return fmt.Errorf("gpt: partition %d has no type", i+1)
		}
		if p.FirstLBA < t.FirstUsableLBA || p.LastLBA < p.FirstLBA || p.LastLBA > t.LastUsableLBA {
			return fmt.Errorf("gpt: partition %d (sectors %d to %d) is outside the usable sectors %d to %d",
				i+1, p.FirstLBA, p.LastLBA, t.FirstUsableLBA, t.LastUsableLBA)
		}
		if n := len(utf16.Encode([]rune(p.Name))); n > MaxNameLen {
			return fmt.Errorf("gpt: partition %d name %q is %d UTF-16 units, more than %d", i+1, p.Name, n, MaxNameLen)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].FirstLBA < ps[j].FirstLBA })
	for i := 1; i < len(ps); i++ {
		if ps[i].FirstLBA <= ps[i-1].LastLBA {
			return fmt.Errorf("gpt: partitions %q and %q overlap", ps[i-1].Name, ps[i].Name)
		}
	}
	return nil
}

// array returns the partition entry array.
func (t *Table) array() []byte {
	b := make([]byte, t.arraySectors()*uint64(t.SectorSize))
	for i, p := range t.Partitions {
		e := b[i*EntrySize : (i+1)*EntrySize]
		p.Type.put(e[0:16])
		p.UUID.put(e[16:32])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		for j, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	return b
}

// header returns the header sector at LBA my, whose array is at arrayLBA.
func (t *Table) header(my, alternate, arrayLBA uint64, arrayCRC uint32) []byte {
	b := make([]byte, t.SectorSize)
	le := binary.LittleEndian
	copy(b, signature)
	le.PutUint32(b[8:], revision)
	le.PutUint32(b[12:], headerSize)
	le.PutUint64(b[24:], my)
	le.PutUint64(b[32:], alternate)
	le.PutUint64(b[40:], t.FirstUsableLBA)
	le.PutUint64(b[48:], t.LastUsableLBA)
	t.DiskGUID.put(b[56:72])
	le.PutUint64(b[72:], arrayLBA)
	le.PutUint32(b[80:], uint32(t.Entries))
	le.PutUint32(b[84:], EntrySize)
	le.PutUint32(b[88:], arrayCRC)
	le.PutUint32(b[16:], crc32.ChecksumIEEE(b[:headerSize]))
	return b
}

// protectiveMBR returns LBA 0: one partition of type 0xEE over the whole
// disk (or 2 TiB of it), as libfdisk writes it.
func (t *Table) protectiveMBR() []byte {
	b := make([]byte, t.SectorSize)
	e := b[446:462]
	copy(e[1:4], []byte{0x00, 0x02, 0x00}) // CHS of LBA 1
	e[4] = 0xee
	copy(e[5:8], []byte{0xff, 0xff, 0xff})
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(t.Sectors-1, 0xffffffff)))
	b[510], b[511] = 0x55, 0xaa
	return b
}

// Head returns the first sectors of the disk: protective MBR, primary
// header and primary array (up to, not including, LBA 2 + array sectors).
func (t *Table) Head() ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	arr := t.array()
	h := append(t.protectiveMBR(), t.header(1, t.Sectors-1, 2, crc32.ChecksumIEEE(arr))...)
	return append(h, arr...), nil
}

// Tail returns the last sectors of the disk: the backup array and header,
// to be written at TailOffset.
func (t *Table) Tail() ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	arr := t.array()
	lba := t.Sectors - 1 - t.arraySectors()
	return append(arr, t.header(t.Sectors-1, 1, lba, crc32.ChecksumIEEE(arr))...), nil
}

// TailOffset is the byte offset of Tail.
func (t *Table) TailOffset() int64 {
	return int64(t.Sectors-1-t.arraySectors()) * int64(t.SectorSize)
}

// Write writes the table's sectors, Head and Tail, to w. The sectors in
// between are left alone.
func (t *Table) Write(w io.WriterAt) error {
	head, err := t.Head()
	if err != nil {
		return err
	}
	tail, err := t.Tail()
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(head, 0); err != nil {
		return fmt.Errorf("gpt: write primary table: %w", err)
	}
	if _, err := w.WriteAt(tail, t.TailOffset()); err != nil {
		return fmt.Errorf("gpt: write backup table: %w", err)
	}
	return nil
}

// Read reads the partition table of a disk of size bytes: the protective
// MBR, the primary header and array, which must be sound, and the backup
// ones, whose faults are reported in Table.BackupError. Every field is
// checked against the disk before use. A disk without a GPT header gives
// an error wrapping ErrNoGPT; a broken table, one wrapping ErrMalformed.
func Read(r io.ReaderAt, size int64) (*Table, error) {
	var ss int
	for _, s := range []int{512, 4096} {
		b := make([]byte, len(signature))
		if size >= int64(3*s) {
			if _, err := r.ReadAt(b, int64(s)); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("gpt: read header: %w", err)
			}
			if string(b) == signature {
				ss = s
				break
			}
		}
	}
	if ss == 0 {
		return nil, fmt.Errorf("%w: no %q signature at LBA 1 for 512- or 4096-byte sectors", ErrNoGPT, signature)
	}
	t := &Table{SectorSize: ss, Sectors: uint64(size) / uint64(ss)}

	mbr := make([]byte, ss)
	if err := readFull(r, mbr, 0); err != nil {
		return nil, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return nil, fmt.Errorf("%w: no MBR boot signature 55aa in LBA 0", ErrMalformed)
	}
	pmbr := false
	for i := 0; i < 4; i++ {
		pmbr = pmbr || mbr[446+16*i+4] == 0xee
	}
	if !pmbr {
		return nil, fmt.Errorf("%w: the MBR has no protective partition of type 0xee", ErrMalformed)
	}

	h, arr, err := t.readHeader(r, 1)
	if err != nil {
		return nil, err
	}
	t.DiskGUID, t.FirstUsableLBA, t.LastUsableLBA, t.Entries = h.disk, h.firstUsable, h.lastUsable, h.entries
	if err := t.readEntries(arr, h.entrySize); err != nil {
		return nil, err
	}
	if h.alternate == 1 || h.alternate >= t.Sectors {
		t.BackupError = fmt.Errorf("the primary header puts the backup at LBA %d, outside the disk of %d sectors", h.alternate, t.Sectors)
	} else if b, barr, err := t.readHeader(r, h.alternate); err != nil {
		t.BackupError = err
	} else if b.disk != h.disk || b.firstUsable != h.firstUsable || b.lastUsable != h.lastUsable || b.alternate != 1 ||
		b.entries != h.entries || b.entrySize != h.entrySize || string(barr) != string(arr) {
		t.BackupError = fmt.Errorf("%w: the backup header at LBA %d does not mirror the primary one", ErrMalformed, h.alternate)
	}
	return t, nil
}

type header struct {
	alternate, firstUsable, lastUsable uint64
	disk                               GUID
	entries, entrySize                 int
}

// readHeader reads and checks the header at LBA lba and its array.
func (t *Table) readHeader(r io.ReaderAt, lba uint64) (header, []byte, error) {
	var h header
	ss := uint64(t.SectorSize)
	b := make([]byte, ss)
	if err := readFull(r, b, int64(lba*ss)); err != nil {
		return h, nil, err
	}
	le := binary.LittleEndian
	bad := func(format string, a ...any) (header, []byte, error) {
		return h, nil, fmt.Errorf("%w: header at LBA %d: %s", ErrMalformed, lba, fmt.Sprintf(format, a...))
	}
	if string(b[:8]) != signature {
		return bad("no %q signature", signature)
	}
	if v := le.Uint32(b[8:]); v != revision {
		return bad("revision %#x, want %#x", v, revision)
	}
	hs := le.Uint32(b[12:])
	if hs < headerSize || uint64(hs) > ss {
		return bad("header size %d, want %d to %d", hs, headerSize, ss)
	}
	crc := le.Uint32(b[16:])
	le.PutUint32(b[16:], 0)
	if got := crc32.ChecksumIEEE(b[:hs]); got != crc {
		return bad("header CRC %08x, computed %08x", crc, got)
	}
	if my := le.Uint64(b[24:]); my != lba {
		return bad("it says it is at LBA %d", my)
	}
	h.alternate, h.firstUsable, h.lastUsable = le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:])
	if h.firstUsable > h.lastUsable || h.lastUsable >= t.Sectors {
		return bad("usable sectors %d to %d do not fit the disk's %d", h.firstUsable, h.lastUsable, t.Sectors)
	}
	h.disk = getGUID(b[56:72])
	arrayLBA := le.Uint64(b[72:])
	n, es := le.Uint32(b[80:]), le.Uint32(b[84:])
	if es < EntrySize || es > 4096 || es&(es-1) != 0 {
		return bad("entry size %d, want a power of two from %d to 4096", es, EntrySize)
	}
	if n == 0 || uint64(n)*uint64(es) > MaxArraySize {
		return bad("%d entries of %d bytes, more than %d bytes or none", n, es, MaxArraySize)
	}
	h.entries, h.entrySize = int(n), int(es)
	arrSize := uint64(n) * uint64(es)
	if arrayLBA < 2 || arrayLBA >= t.Sectors || arrSize > (t.Sectors-arrayLBA)*ss {
		return bad("partition array at LBA %d (%d bytes) is outside the disk", arrayLBA, arrSize)
	}
	arr := make([]byte, arrSize)
	if err := readFull(r, arr, int64(arrayLBA*ss)); err != nil {
		return h, nil, err
	}
	if got, want := crc32.ChecksumIEEE(arr), le.Uint32(b[88:]); got != want {
		return bad("partition array CRC %08x, computed %08x", want, got)
	}
	return h, arr, nil
}

// readEntries decodes the used entries of the array.
func (t *Table) readEntries(arr []byte, es int) error {
	le := binary.LittleEndian
	for i := 0; i < t.Entries; i++ {
		e := arr[i*es : (i+1)*es]
		p := Partition{Index: i + 1, Type: getGUID(e[0:16]), UUID: getGUID(e[16:32]),
			FirstLBA: le.Uint64(e[32:]), LastLBA: le.Uint64(e[40:]), Attributes: le.Uint64(e[48:])}
		if p.Type.IsZero() {
			continue
		}
		if p.FirstLBA < t.FirstUsableLBA || p.LastLBA < p.FirstLBA || p.LastLBA > t.LastUsableLBA {
			return fmt.Errorf("%w: partition %d (sectors %d to %d) is outside the usable sectors %d to %d",
				ErrMalformed, p.Index, p.FirstLBA, p.LastLBA, t.FirstUsableLBA, t.LastUsableLBA)
		}
		units := make([]uint16, 0, MaxNameLen)
		for j := 56; j+1 < 56+2*MaxNameLen; j += 2 {
			u := le.Uint16(e[j:])
			if u == 0 {
				break
			}
			units = append(units, u)
		}
		p.Name = strings.ToValidUTF8(string(utf16.Decode(units)), "\uFFFD")
		t.Partitions = append(t.Partitions, p)
	}
	ps := append([]Partition{}, t.Partitions...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].FirstLBA < ps[j].FirstLBA })
	for i := 1; i < len(ps); i++ {
		if ps[i].FirstLBA <= ps[i-1].LastLBA {
			return fmt.Errorf("%w: partitions %d and %d overlap", ErrMalformed, ps[i-1].Index, ps[i].Index)
		}
	}
	return nil
}

// readFull reads len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %d bytes at %d are past the end of the disk", ErrMalformed, len(b), off)
	}
	return fmt.Errorf("gpt: read at %d: %w", off, err)
}
