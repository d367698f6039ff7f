package builder_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mkportable/mkportable/builder"
)

// Build a portable service image from a spec: one program in a store-like
// directory and a unit template whose @app@ placeholder points at it. The
// unit keeps state, so the builder adds the /var/lib/hello the service
// needs, and says what systemd 252 and 257 will do with the image.
func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	storePath := "/nix/store/00000000000000000000000000000000-hello-1.0"
	bin := filepath.Join(dir, "store", filepath.Base(storePath), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "hello"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	unitFile := filepath.Join(dir, "hello.service.in")
	if err := os.WriteFile(unitFile, []byte("[Service]\nExecStart=@app@/bin/hello\nStateDirectory=hello\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	spec := builder.Spec{
		Name:          "hello",
		Version:       "1.0",
		Units:         []string{unitFile},
		Substitutions: map[string]string{"app": storePath},
		StorePaths:    []string{storePath},
		StoreDir:      filepath.Join(dir, "store"),
	}
	res, err := builder.Build(context.Background(), spec, dir, builder.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(res.Path), res.Stats.Files, "files")
	fmt.Println("created", res.Created)
	fmt.Println("systemd 252:", res.Report.Outcome(252), "systemd 257:", res.Report.Outcome(257))
	// Output:
	// hello_1.0.raw 5 files
	// created [/dev /etc/machine-id /etc/resolv.conf /proc /run /sys /tmp /var/lib/hello /var/tmp]
	// systemd 252: active systemd 257: active
}
