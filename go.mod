module github.com/mkportable/mkportable

go 1.25.0

require (
	github.com/diskfs/go-diskfs v1.9.4
	github.com/klauspost/compress v1.20.4
	github.com/pierrec/lz4/v4 v4.1.33
	github.com/stretchr/testify v1.12.1
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sys v0.43.0
)

require (
	github.com/anchore/go-lzo v0.1.0 // indirect
	github.com/pkg/xattr v0.4.12 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
