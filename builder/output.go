package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/internal/atomicfile"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/verity"
)

// Output is one file Build wrote.
type Output struct {
	// Role is "image" (NAME_VERSION.raw), "verity" (the hash tree),
	// "roothash" or "signature" (NAME_VERSION.roothash.p7s).
	Role   string `json:"role"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// written is what writeOutputs made.
type written struct {
	stats    *squashfs.Stats
	outputs  []Output
	removed  []string
	rootHash string
	disk     *ddi.Image
}

// writeOutputs writes the image of tree as set asks, to image (the path
// of NAME_VERSION.raw), with its sidecars beside it. Every file is written
// whole to an unnamed temporary file first (internal/atomicfile), so a
// failed, cancelled or killed build leaves nothing; they are then put in
// place with the image last, and the sidecars of an earlier build that
// this one does not write are removed after it: systemd would take a stale
// NAME.roothash or NAME.verity for the new image's and refuse it. Were the
// process killed between two of these steps, what is left is refused by
// systemd (a new hash tree with an old image), never run unverified.
func writeOutputs(ctx context.Context, image string, tree *squashfs.Tree, sq squashfs.Options, set settings, signer *pkcs7.Signer) (*written, error) {
	side, _ := verity.SidecarPaths(image)
	var files []*atomicfile.File
	defer func() {
		for _, f := range files {
			f.Abort()
		}
	}()
	create := func(name string) (*atomicfile.File, error) {
		f, err := atomicfile.Create(name)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		files = append(files, f)
		return f, nil
	}
	w := &written{}
	roles := map[*atomicfile.File]string{}
	var order []*atomicfile.File // commit order: the image last

	fsFile, err := create(image)
	if err != nil {
		return nil, err
	}
	if set.ddi {
		// The squashfs goes to a scratch file first, never committed: the
		// disk image is written from it.
		if fsFile, err = create(image + ".squashfs"); err != nil {
			return nil, err
		}
	}
	if w.stats, err = squashfs.Write(ctx, fsFile, tree, sq); err != nil {
		return nil, fmt.Errorf("write %s: %w", image, err)
	}
	size := w.stats.ImageSize

	switch {
	case set.ddi:
		out := files[0]
		img, vt, err := ddi.Write(ctx, out, fsFile, size, ddi.Options{Arch: set.arch, Signer: signer})
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", image, err)
		}
		w.disk, w.rootHash = img, vt.RootHash.String()
	case set.verity:
		vt, err := verity.Build(ctx, fsFile, size, verity.Options{})
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", image, err)
		}
		if vt.DataSize() > size {
			// The tree covers whole blocks: the image is zero-padded to
			// them, as the loop device systemd sets up must be.
			if err := fsFile.Truncate(vt.DataSize()); err != nil {
				return nil, fmt.Errorf("pad %s: %w", image, err)
			}
		}
		w.rootHash = vt.RootHash.String()
		vf, err := create(side.Verity)
		if err != nil {
			return nil, err
		}
		if _, err := vt.WriteTo(vf); err != nil {
			return nil, fmt.Errorf("write %s: %w", side.Verity, err)
		}
		roles[vf], order = "verity", append(order, vf)
		if signer != nil {
			sig, err := verity.SignRootHash(vt.RootHash, signer, pkcs7.SignOptions{})
			if err != nil {
				return nil, err
			}
			sf, err := create(side.Signature)
			if err != nil {
				return nil, err
			}
			if _, err := sf.Write(sig); err != nil {
				return nil, fmt.Errorf("write %s: %w", side.Signature, err)
			}
			roles[sf], order = "signature", append(order, sf)
		}
		rf, err := create(side.RootHash)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(rf, w.rootHash); err != nil {
			return nil, fmt.Errorf("write %s: %w", side.RootHash, err)
		}
		roles[rf], order = "roothash", append(order, rf)
	}
	roles[files[0]], order = "image", append(order, files[0])

	for _, f := range order {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if err := f.Commit(); err != nil {
			return nil, err
		}
		o, err := describe(f.Target(), roles[f])
		if err != nil {
			return nil, err
		}
		w.outputs = append(w.outputs, o)
	}
	for _, stale := range []string{side.RootHash, side.Verity, side.Signature} {
		if containsPath(w.outputs, stale) {
			continue
		}
		if err := os.Remove(stale); err == nil {
			w.removed = append(w.removed, stale)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove the stale %s (systemd would use it with the new image): %w", stale, err)
		}
	}
	return w, nil
}

func containsPath(outs []Output, p string) bool {
	for _, o := range outs {
		if o.Path == p {
			return true
		}
	}
	return false
}

// describe hashes a written file.
func describe(name, role string) (Output, error) {
	f, err := os.Open(name)
	if err != nil {
		return Output{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Output{}, fmt.Errorf("hash %s: %w", name, err)
	}
	return Output{Role: role, Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
