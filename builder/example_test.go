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
// directory and a unit template whose @app@ placeholder points at it.
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
	if err := os.WriteFile(unitFile, []byte("[Service]\nExecStart=@app@/bin/hello\n"), 0o644); err != nil {
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
	// Output: hello_1.0.raw 5 files
}
