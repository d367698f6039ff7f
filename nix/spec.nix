# The pure half of lib.portableService: nixpkgs' portableService arguments
# in, mkportable's JSON spec (as an attribute set) out. It needs no nixpkgs,
# so CI evaluates it with nix-instantiate and compares it with
# golden-spec.json (and golden-spec-ext.json). Paths are relative to the
# spec file, which the derivation (portable-service.nix) writes beside units/
# and closure-info.
{
  pname,
  version,
  units ? [ ],
  description ? null,
  homepage ? null,
  symlinks ? [ ],
  contents ? [ ],
  # nixpkgs passes these to mksquashfs; mkportable keeps the compressor's
  # name ("xz -Xdict-size 100%" is xz, whose dictionary is always the block
  # size here) and the block size.
  squash-compression ? "xz -Xdict-size 100%",
  squash-block-size ? "1M",
  # mkportable's own (issue 11). kind: portable, sysext or confext. format:
  # raw (the squashfs) or ddi (a GPT disk image). verity: write
  # NAME_VERSION.verity and NAME_VERSION.roothash beside a raw image.
  # architecture: systemd's name (x86-64, arm64...), default the build
  # machine's.
  kind ? "portable",
  format ? "raw",
  verity ? false,
  architecture ? null,
  # signKey and cert sign the root hash. They are paths on the build machine,
  # as strings, read by mkportable when the image is built: this function
  # never copies them into the store (where a private key would be readable
  # by every user), and refuses a key that is in it. The build sandbox must
  # let the builder read them (nix.settings.extra-sandbox-paths).
  signKey ? null,
  cert ? null,
  # Fields of the image's os-release (a portable image) or extension-release
  # (an extension: ID, VERSION_ID, SYSEXT_LEVEL, EXTENSION_RELOAD_MANAGER...).
  osRelease ? { },
  # Files placed in the image, [ { source; target; } ]: what an extension
  # carries (a sysext's under /usr or /opt, a confext's under /etc).
  files ? [ ],
  ...
}:
let
  unitName = u: if builtins.isAttrs u && u ? name then u.name else baseNameOf (toString u);
  optional = cond: attrs: if cond then attrs else { };
  portable = kind == "portable";
  # A key or certificate path: an absolute path on the build machine, never
  # a store path. toString of a path value gives its name without copying
  # it into the store.
  hostPath =
    what: p:
    let
      s = if builtins.isPath p then toString p else p;
    in
    if
      builtins.isString s
      && !(builtins.hasContext s)
      && builtins.substring 0 1 s == "/"
      && builtins.substring 0 (builtins.stringLength builtins.storeDir + 1) s != builtins.storeDir + "/"
    then
      s
    else
      throw "portableService: ${what} must be an absolute path outside the Nix store, given as a string: it is read when the image is built and never copied into the store";
in
{
  name = pname;
  inherit version;
  units = map (u: "units/${unitName u}") units;
  symlinks = map (s: {
    object = toString s.object;
    symlink = s.symlink;
  }) symlinks;
  compression = builtins.head (builtins.filter builtins.isString (builtins.split " " squash-compression));
  blockSize = squash-block-size;
}
// optional portable {
  closureInfo = "closure-info";
  # nixpkgs' image says ID=nixos; keep that, so tools keying on it agree.
  osRelease = {
    ID = "nixos";
  } // osRelease;
}
// optional (!portable && osRelease != { }) { inherit osRelease; }
// optional (description != null) { inherit description; }
// optional (homepage != null) { inherit homepage; }
// optional (!portable) { inherit kind; }
// optional (format != "raw") { inherit format; }
// optional verity { verity = true; }
// optional (architecture != null) { inherit architecture; }
// optional (signKey != null) { signKey = hostPath "signKey" signKey; }
// optional (cert != null) { cert = hostPath "cert" cert; }
// optional (files != [ ]) {
  contents = map (f: {
    source = toString f.source;
    target = f.target;
  }) files;
  hostContents = true;
}
