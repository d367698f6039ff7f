# flake.nix's checks.<system>.example (the README's example: the web
# server through lib.portableService), with nix/test/fake-nixpkgs.nix as the
# nixpkgs input. nix/check.sh builds it with nix-build:
#
#   nix-build nix/test/example.nix --arg prebuilt ./.cache/nix/prebuilt
{
  prebuilt,
  system ? builtins.currentSystem,
}:
let
  flake = import ../../flake.nix;
  nixpkgs = import ./fake-nixpkgs.nix { inherit prebuilt system; };
  self = flake.outputs { inherit self nixpkgs; };
in
self.checks.${system}.example
