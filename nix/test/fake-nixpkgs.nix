# A TEST DOUBLE for nixpkgs, not nixpkgs: the few functions flake.nix and
# nix/portable-service.nix call, enough for `make nix-check` to build
# lib.portableService with Debian's nix-bin (2.8) without fetching nixpkgs.
#
# Its derivations run the host's /bin/sh and coreutils (nix-build with
# `sandbox = false`, as nix/check.sh runs it), not a stdenv, and its
# buildGoModule does not compile: it adds to the store the binaries
# nix/check.sh built beforehand, prebuilt/<pname>/bin/<pname>. Nix itself
# does the rest for real: the store, exportReferencesGraph, passAsFile,
# builds and `nix-build --check`.
{
  # A directory holding <pname>/bin/... for each buildGoModule call.
  prebuilt,
  system ? builtins.currentSystem,
}:
let
  lib = {
    inherit (builtins) all;
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    assertMsg = pred: msg: pred || builtins.throw msg;
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
  };

  # runCommand name env script: a derivation running script with $out set,
  # the bin directories of env.nativeBuildInputs first on PATH and, as
  # stdenv does, SOURCE_DATE_EPOCH=315532800. Nix handles passAsFile.
  runCommand =
    name: env: script:
    derivation (
      removeAttrs env [ "nativeBuildInputs" ]
      // {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-euc"
          script
        ];
        PATH = builtins.concatStringsSep ":" (
          map (p: "${p}/bin") (env.nativeBuildInputs or [ ]) ++ [ "/usr/bin:/bin" ]
        );
        SOURCE_DATE_EPOCH = "315532800";
      }
    );

  # closureInfo { rootPaths }: $out/store-paths lists the closure of
  # rootPaths, from the graphs Nix writes for exportReferencesGraph. In
  # each graph a path's record is: the path, its deriver (empty here), the
  # number of its references, then the references, one a line.
  closureInfo =
    { rootPaths }:
    let
      graphs = builtins.genList (i: "graph-${toString i}") (builtins.length rootPaths);
    in
    runCommand "closure-info"
      {
        exportReferencesGraph = builtins.concatLists (
          builtins.genList (i: [
            (builtins.elemAt graphs i)
            (builtins.elemAt rootPaths i)
          ]) (builtins.length rootPaths)
        );
      }
      ''
        mkdir "$out"
        for g in ${builtins.concatStringsSep " " graphs}; do
          awk 'want == 0 { print; want = 1; next }
               want == 1 { want = 2; next }
               want == 2 { refs = $0; want = refs > 0 ? 3 : 0; next }
               { if (--refs == 0) want = 0 }' "$g"
        done | sort -u >"$out/store-paths"
      '';

  # replaceVars src { name = value; }: src with every @name@ replaced,
  # named as src is. Like nixpkgs', it fails on a name src lacks and on an
  # @identifier@ left over.
  replaceVars =
    src: replacements:
    runCommand (baseNameOf (toString src)) { inherit src; } ''
      cp "$src" "$out"
      chmod u+w "$out"
      ${lib.concatMapStringsSep "\n" (k: ''
        grep -qF '@${k}@' "$out" || { echo "replaceVars: no @${k}@ in ${toString src}" >&2; exit 1; }
        sed -i 's|@${k}@|${toString replacements.${k}}|g' "$out"
      '') (builtins.attrNames replacements)}
      if grep -E "@[a-zA-Z_][0-9A-Za-z_'-]*@" "$out" >&2; then
        echo "replaceVars: placeholders left in ${toString src}" >&2
        exit 1
      fi
    '';

  # buildGoModule: the binary nix/check.sh built, added to the store.
  buildGoModule =
    { pname, version, ... }:
    {
      name = "${pname}-${version}";
      outPath = builtins.path {
        path = prebuilt + "/${pname}";
        name = "${pname}-${version}";
      };
    };

  pkgs = {
    inherit
      lib
      runCommand
      closureInfo
      replaceVars
      buildGoModule
      ;
    stdenv.hostPlatform.system = system;
    callPackage = fn: args: import fn ({ inherit lib buildGoModule; } // args);
  };
in
{
  inherit lib;
  legacyPackages.${system} = pkgs;
}
