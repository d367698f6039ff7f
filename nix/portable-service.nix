# lib.portableService: a drop-in for nixpkgs' pkgs.portableService that
# builds ${pname}_${version}.raw with mkportable instead of mksquashfs.
# The arguments are nixpkgs' (see spec.nix); the store paths come from
# closureInfo over the units, contents and symlink objects, as nixpkgs'
# image holds the closure of its root file system and contents.
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
  units,
  symlinks ? [ ],
  contents ? [ ],
  cacheDir ? null,
  ...
}:
let
  inherit (pkgs) lib;
  spec = import ./spec.nix args;
  closure = pkgs.closureInfo {
    rootPaths = units ++ contents ++ map (s: s.object) symlinks;
  };
in
assert lib.assertMsg (lib.all (u: lib.hasPrefix pname u.name) units)
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
    ln -s ${closure} build/closure-info
    cp "$specJSONPath" build/spec.json
    # stdenv sets SOURCE_DATE_EPOCH=315532800, which mkportable honours.
    mkportable build build/spec.json -o $out ${
      lib.optionalString (cacheDir != null) "--cache ${lib.escapeShellArg cacheDir}"
    }
    mkportable inspect $out/${pname}_${version}.raw
  ''
