# Sample arguments for spec.nix, as nixpkgs' portableService takes them, with
# derivations stood in for by attribute sets (CI evaluates without nixpkgs).
{
  pname = "web-server";
  version = "20220227";
  description = "A web service";
  homepage = "https://github.com/mkportable/mkportable";
  units = [
    {
      name = "web-server.service";
      outPath = "/nix/store/00000000000000000000000000000000-web-server.service";
    }
  ];
  symlinks = [
    {
      object = "/nix/store/11111111111111111111111111111111-web-server-20220227/bin/web-server";
      symlink = "/bin/web-server";
    }
  ];
  squash-compression = "xz -Xdict-size 100%";
  squash-block-size = "1M";
}
