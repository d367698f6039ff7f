# lib.portableService: a drop-in for nixpkgs' pkgs.portableService that
# builds ${pname}_${version}.raw with mkportable instead of mksquashfs.
# The arguments are nixpkgs' (see spec.nix); the store paths come from
# closureInfo over the units, contents and symlink objects, as nixpkgs'
# image holds the closure of its root file system and contents. mkportable's
# own arguments (kind, format, verity, architecture, signKey, cert,
# osRelease, files) are described in spec.nix; the output holds the image
# and, with verity or a signature, NAME_VERSION.verity, .roothash and
# .roothash.p7s beside it.
{ pkgs, mkportable }:
#
# cacheDir, a string naming a directory outside the store (not a path,
# which Nix would copy in), passes --cache to mkportable: blocks compressed
# by an earlier build are reused and the image is the same bytes. The
# sandbox hides the directory unless it is let in and writable by the build
# users, e.g. `nix build --option extra-sandbox-paths /var/cache/mkportable`
# with the directory mode 1777; without that, leave cacheDir null (the
# default), since a cache only makes builds faster.
args@{
  pname,
  version,
  units ? [ ],
  symlinks ? [ ],
  contents ? [ ],
  cacheDir ? null,
  kind ? "portable",
  cert ? null,
  ...
}:
let
  inherit (pkgs) lib;
  spec = import ./spec.nix args;
  portable = kind == "portable";
  closure = pkgs.closureInfo {
    rootPaths = units ++ contents ++ map (s: s.object) symlinks;
  };
  # Only builtins here: `make nix-check` builds this with a nixpkgs test
  # double that has few lib functions.
  shellQuote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
in
assert lib.assertMsg (!portable || lib.all (u: lib.hasPrefix pname u.name) units)
  "Unit names must be prefixed with the service name";
pkgs.runCommand "${pname}-img-${version}"
  {
    nativeBuildInputs = [ mkportable ];
    specJSON = builtins.toJSON spec;
    passAsFile = [ "specJSON" ];
  }
  ''
    mkdir -p build/units $out
    ${lib.concatMapStringsSep "\n" (u: "cp ${u} build/units/${u.name}") units}
    ${if portable then "ln -s ${closure} build/closure-info" else ""}
    cp "$specJSONPath" build/spec.json
    # stdenv sets SOURCE_DATE_EPOCH=315532800, which mkportable honours.
    mkportable build build/spec.json -o $out ${
      if cacheDir != null then "--cache ${shellQuote cacheDir}" else ""
    }
    mkportable inspect ${if cert != null then "--cert ${shellQuote spec.cert}" else ""} $out/${pname}_${version}.raw
  ''
