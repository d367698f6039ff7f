# The pure half of lib.portableService: nixpkgs' portableService arguments
# in, mkportable's JSON spec (as an attribute set) out. It needs no nixpkgs,
# so CI evaluates it with nix-instantiate and compares it with
# golden-spec.json. Paths are relative to the spec file, which the
# derivation (portable-service.nix) writes beside units/ and closure-info.
{
  pname,
  version,
  units,
  description ? null,
  homepage ? null,
  symlinks ? [ ],
  contents ? [ ],
  # nixpkgs passes these to mksquashfs; mkportable keeps the compressor's
  # name ("xz -Xdict-size 100%" is xz, whose dictionary is always the block
  # size here) and the block size.
  squash-compression ? "xz -Xdict-size 100%",
  squash-block-size ? "1M",
  ...
}:
let
  unitName = u: if builtins.isAttrs u && u ? name then u.name else baseNameOf (toString u);
  optional = cond: attrs: if cond then attrs else { };
in
{
  name = pname;
  inherit version;
  units = map (u: "units/${unitName u}") units;
  closureInfo = "closure-info";
  symlinks = map (s: {
    object = toString s.object;
    symlink = s.symlink;
  }) symlinks;
  # nixpkgs' image says ID=nixos; keep that, so tools keying on it agree.
  osRelease = {
    ID = "nixos";
  };
  compression = builtins.head (builtins.filter builtins.isString (builtins.split " " squash-compression));
  blockSize = squash-block-size;
}
// optional (description != null) { inherit description; }
// optional (homepage != null) { inherit homepage; }
