package ddi

import (
	"fmt"
	"strings"

	"github.com/mkportable/mkportable/internal/gpt"
)

// Designator is what a partition is for, per the Discoverable Partitions
// Specification: a file system (root or usr), its dm-verity hash tree, or
// the signature of the tree's root hash.
type Designator int

const (
	Root Designator = iota + 1
	RootVerity
	RootVeritySig
	Usr
	UsrVerity
	UsrVeritySig
)

var designatorNames = [...]string{"", "root", "root-verity", "root-verity-sig", "usr", "usr-verity", "usr-verity-sig"}

// String returns systemd's name of the designator, "root-verity" say, or
// "unknown".
func (d Designator) String() string {
	if d < Root || d > UsrVeritySig {
		return "unknown"
	}
	return designatorNames[d]
}

// data returns the file system designator of d's group: Root or Usr.
func (d Designator) data() Designator {
	if d >= Usr {
		return Usr
	}
	return Root
}

// architectures are the partition type UUIDs of each architecture systemd
// 252 knows and Go builds for, as `systemd-id128 show` lists them (the
// tests compare them), in Designator order.
var architectures = []struct {
	name, goarch string
	types        [6]string
}{
	{"x86-64", "amd64", [6]string{
		"4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
		"2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
		"41092b05-9fc8-4523-994f-2def0408b176",
		"8484680c-9521-48c6-9c11-b0720656f69e",
		"77ff5f63-e7b6-4633-acf4-1565b864c0e6",
		"e7bb33fb-06cf-4e81-8273-e543b413e2e2",
	}},
	{"x86", "386", [6]string{
		"44479540-f297-41b2-9af7-d131d5f0458a",
		"d13c5d3b-b5d1-422a-b29f-9454fdc89d76",
		"5996fc05-109c-48de-808b-23fa0830b676",
		"75250d76-8cc6-458e-bd66-bd47cc81a812",
		"8f461b0d-14ee-4e81-9aa9-049b6fb97abd",
		"974a71c0-de41-43c3-be5d-5c5ccd1ad2c0",
	}},
	{"arm64", "arm64", [6]string{
		"b921b045-1df0-41c3-af44-4c6f280d3fae",
		"df3300ce-d69f-4c92-978c-9bfb0f38d820",
		"6db69de6-29f4-4758-a7a5-962190f00ce3",
		"b0e01050-ee5f-4390-949a-9101b17104e9",
		"6e11a4e7-fbca-4ded-b9e9-e1a512bb664e",
		"c23ce4ff-44bd-4b00-b2d4-b41b3419e02a",
	}},
	{"arm", "arm", [6]string{
		"69dad710-2ce4-4e3c-b16c-21a1d49abed3",
		"7386cdf2-203c-47a9-a498-f2ecce45a2d6",
		"42b0455f-eb11-491d-98d3-56145ba9d037",
		"7d0359a3-02b3-4f0a-865c-654403e70625",
		"c215d751-7bcd-4649-be90-6627490a4c05",
		"d7ff812f-37d1-4902-a810-d76ba57b975a",
	}},
	{"riscv64", "riscv64", [6]string{
		"72ec70a6-cf74-40e6-bd49-4bda08e8f224",
		"b6ed5582-440b-4209-b8da-5ff7c419ea3d",
		"efe0f087-ea8d-4469-821a-4c2a96a8386a",
		"beaec34b-8442-439b-a40b-984381ed097d",
		"8f1056be-9b05-47c4-81d6-be53128e5b54",
		"d2f9000a-7a18-453f-b5cd-4d32f77a7b32",
	}},
	{"loongarch64", "loong64", [6]string{
		"77055800-792c-4f94-b39a-98c91b762bb6",
		"f3393b22-e9af-4613-a948-9d3bfbd0c535",
		"5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0",
		"e611c702-575c-4cbe-9a46-434fa0bf7e3f",
		"f46b2c26-59ae-48f0-9106-c50ed47f673d",
		"b024f315-d330-444c-8461-44bbde524e99",
	}},
	{"ppc64-le", "ppc64le", [6]string{
		"c31c45e6-3f39-412e-80fb-4809c4980599",
		"906bd944-4589-4aae-a4e4-dd983917446a",
		"d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6",
		"15bb03af-77e7-4d4a-b12b-c0d084f7491c",
		"ee2b9983-21e8-4153-86d9-b6901a54d1ce",
		"c8bfbd1e-268e-4521-8bba-bf314c399557",
	}},
	{"ppc64", "ppc64", [6]string{
		"912ade1d-a839-4913-8964-a10eee08fbd2",
		"9225a9a3-3c19-4d89-b4f6-eeff88f17631",
		"f5e2c20c-45b2-4ffa-bce9-2a60737e1aaf",
		"2c9739e2-f068-46b3-9fd0-01c5a9afbcca",
		"bdb528a5-a259-475f-a87d-da53fa736a07",
		"0b888863-d7f8-4d9e-9766-239fce4d58af",
	}},
	{"s390x", "s390x", [6]string{
		"5eead9a9-fe09-4a1e-a1d7-520d00531306",
		"b325bfbe-c7be-4ab8-8357-139e652d2f6b",
		"c80187a5-73a3-491a-901a-017c3fa953e9",
		"8a4f5770-50aa-4ed3-874a-99b710db6fea",
		"31741cc4-1a2a-4111-a581-e00b447d2d06",
		"3f324816-667b-46ae-86ee-9b0c0c6c11b4",
	}},
	{"mips64-le", "mips64le", [6]string{
		"700bda43-7a34-4507-b179-eeb93d7a7ca3",
		"16b417f8-3e06-4f57-8dd2-9b5232f41aa6",
		"904e58ef-5c65-4a31-9c57-6af5fc7c5de7",
		"c97c1f32-ba06-40b4-9f22-236061b08aa8",
		"3c3d61fe-b5f3-414d-bb71-8739a694a4ef",
		"f2c2c7ee-adcc-4351-b5c6-ee9816b66e16",
	}},
	{"mips64", "mips64", [6]string{
		"d113af76-80ef-41b4-bdb6-0cff4d3d4a25",
		"579536f8-6a33-4055-a95a-df2d5e2c42a8",
		"43ce94d4-0f3d-4999-8250-b9deafd98e6e",
		"57e13958-7331-4365-8e6e-35eeee17c61b",
		"81cf9d90-7458-4df4-8dcf-c8a3a404f09b",
		"05816ce2-dd40-4ac6-a61d-37d32dc1ba7d",
	}},
	{"mips-le", "mipsle", [6]string{
		"37c58c8a-d913-4156-a25f-48b1b64e07f0",
		"d7d150d2-2a04-4a33-8f12-16651205ff7b",
		"c919cc1f-4456-4eff-918c-f75e94525ca5",
		"0f4868e9-9952-4706-979f-3ed3a473e947",
		"46b98d8d-b55c-4e8f-aab3-37fca7f80752",
		"3e23ca0b-a4bc-4b4e-8087-5ab6a26aa8a9",
	}},
	{"mips", "mips", [6]string{
		"e9434544-6e2c-47cc-bae2-12d6deafb44c",
		"7a430799-f711-4c7e-8e5b-1d685bd48607",
		"bba210a2-9c5d-45ee-9e87-ff2ccbd002d0",
		"773b2abc-2a99-4398-8bf5-03baac40d02b",
		"6e5a1bc8-d223-49b7-bca8-37a5fcceb996",
		"97ae158d-f216-497b-8057-f7f905770f54",
	}},
}

// ArchFromGOARCH returns systemd's name of the architecture Go calls
// goarch: "x86-64" for "amd64", "arm64" for "arm64"...
func ArchFromGOARCH(goarch string) (string, bool) {
	for _, a := range architectures {
		if a.goarch == goarch {
			return a.name, true
		}
	}
	return "", false
}

// TypeUUID returns the partition type of designator d for the
// architecture arch (systemd's name, e.g. "x86-64").
func TypeUUID(d Designator, arch string) (GUID, error) {
	if d < Root || d > UsrVeritySig {
		return GUID{}, fmt.Errorf("ddi: no designator %d", d)
	}
	for _, a := range architectures {
		if a.name == arch {
			return gpt.MustParseGUID(a.types[d-1]), nil
		}
	}
	return GUID{}, fmt.Errorf("ddi: unknown architecture %q (systemd's names: x86-64, arm64, ...)", arch)
}

// LookupType returns the designator and architecture of a partition type,
// or false for a type that is none of them.
func LookupType(t GUID) (Designator, string, bool) {
	s := t.String()
	for _, a := range architectures {
		for i, u := range a.types {
			if u == s {
				return Designator(i + 1), a.name, true
			}
		}
	}
	return 0, "", false
}

// TypeName returns systemd's name of a partition type, as repart uses for
// labels and systemd-id128 shows: "root-x86-64-verity" for the verity
// partition of an x86-64 root.
func TypeName(d Designator, arch string) string {
	name := d.data().String() + "-" + arch
	if suffix, ok := strings.CutPrefix(d.String(), d.data().String()); ok {
		name += suffix
	}
	return name
}
