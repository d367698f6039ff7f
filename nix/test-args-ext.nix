# Sample arguments for spec.nix with mkportable's own options (issue 11): a
# signed system extension as a DDI. Derivations are stood in for by
# attribute sets; the key and certificate are host paths, never store
# paths.
{
  pname = "tool";
  version = "1";
  kind = "sysext";
  format = "ddi";
  verity = true;
  architecture = "x86-64";
  signKey = "/run/keys/mkportable.key";
  cert = "/etc/verity.d/mkportable.crt";
  osRelease = {
    EXTENSION_RELOAD_MANAGER = "1";
  };
  files = [
    {
      source = {
        outPath = "/nix/store/22222222222222222222222222222222-tool-1/bin/tool";
      };
      target = "/usr/bin/tool";
    }
  ];
  squash-compression = "zstd";
}
