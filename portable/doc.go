// Package portable holds systemd-portabled's rules, once: what `portablectl
// attach` refuses, what it attaches and what it leaves out, and what makes
// an attached service fail when it starts, for the systemd versions it
// models (Versions: 252, as in Debian 12, and 257, as in Debian 13).
//
// Check examines any fs.FS holding an image's root: a squashfs.Reader of a
// written image, the FS of a squashfs.Tree not yet written, or any
// fs.ReadLinkFS (through pathwalk.Rooted, symlinks resolve as the kernel
// resolves them with the image mounted at /). It returns a Report whose
// Problems each carry a Severity that says what systemd will do:
//
//   - Refused: portablectl attach refuses the image;
//   - Fails: attach succeeds, but a unit it starts fails (226/NAMESPACE,
//     203/EXEC, a unit that does not load...);
//   - Ignored: attach succeeds without something the image carries;
//   - Note: no effect on the outcome, or something that cannot be checked
//     before the service runs.
//
// A problem applies to the systemd versions v with (Since == 0 || v >=
// Since) && (Before == 0 || v < Before); Report.Outcome folds them into
// "refused", "fails" or "active" for one version.
//
// Each rule names the systemd behaviour it encodes, read from systemd's
// sources at v252 and v257 (src/portable/portable.c and portablectl.c,
// src/basic/os-util.c, env-file.c, unit-name.c, path-lookup.c,
// src/shared/conf-parser.c, src/core/namespace.c, execute.c,
// load-fragment.c, unit-printf.c, and the profiles in
// src/portable/profile/), and, where a guest ran it, what a real systemd
// did: those verdicts win over a reading of the source.
package portable
