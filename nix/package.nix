# mkportable itself, built with buildGoModule.
{ lib, buildGoModule }:
buildGoModule {
  pname = "mkportable";
  version = "0.1.0";
  src = lib.cleanSourceWith {
    src = ../.;
    # Build outputs and the e2e guest cache are not sources.
    filter = path: _type: !(builtins.elem (baseNameOf path) [ "out" ".cache" "bin" ]);
  };
  # The NAR hash of `go mod vendor`'s output for go.mod and go.sum;
  # nix/update-vendor-hash.sh recomputes it, and nix/check.sh (run by CI)
  # fails when it no longer matches.
  vendorHash = "sha256-VCauHDPtTnNvCTcEPynhFLiTb0xmFvCRGH5cb6jkGVk=";
  subPackages = [ "cmd/mkportable" ];
  env.CGO_ENABLED = 0;
  ldflags = [ "-s" "-w" ];
  # The tests need squashfs-tools, squashfs-tools-ng and root for loop
  # mounts; `make test` runs them outside the sandbox.
  doCheck = false;
  meta = {
    description = "Build systemd portable service images in pure Go, reproducibly and without root";
    homepage = "https://github.com/mkportable/mkportable";
    mainProgram = "mkportable";
    platforms = lib.platforms.linux;
  };
}
