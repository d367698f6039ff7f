{
  description = "mkportable: systemd portable service images in pure Go, reproducibly and without root";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      lib = {
        # specOf: nixpkgs portableService arguments -> mkportable's JSON spec;
        # pure, evaluable without nixpkgs.
        specOf = import ./nix/spec.nix;
        # portableService pkgs { pname; version; units; ... }: a drop-in for
        # pkgs.portableService that writes ${pname}_${version}.raw with mkportable.
        portableService =
          pkgs:
          import ./nix/portable-service.nix {
            inherit pkgs;
            mkportable = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          };
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/mkportable";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.go
            pkgs.squashfsTools
            pkgs.squashfs-tools-ng
          ];
        };
      });

      overlays.default = final: _prev: {
        mkportable = final.callPackage ./nix/package.nix { };
        portableServiceGo = import ./nix/portable-service.nix {
          pkgs = final;
          inherit (final) mkportable;
        };
      };

      # The README's example, built through lib.portableService; it builds
      # with nixpkgs' own pkgs.portableService unchanged too. `make
      # nix-check` builds it with nix/test/fake-nixpkgs.nix as nixpkgs.
      checks = forAllSystems (
        pkgs:
        let
          webServer = pkgs.buildGoModule {
            pname = "web-server";
            version = "20220227";
            src = ./testdata/web-server/server;
            vendorHash = null;
            preBuild = "cp ${pkgs.writeText "go.mod" "module web-server\ngo 1.21\n"} go.mod";
            env.CGO_ENABLED = 0;
          };
        in
        {
          example = self.lib.portableService pkgs {
            pname = "web-server";
            version = "20220227";
            description = "A web service";
            # replaceVars fills @web@, fails on any placeholder left, and
            # names its output as its source: web-server.service.
            units = [ (pkgs.replaceVars ./testdata/web-server/web-server.service { web = webServer; }) ];
            symlinks = [
              {
                object = "${webServer}/bin/web-server";
                symlink = "/bin/web-server";
              }
            ];
          };
        }
      );
    };
}
