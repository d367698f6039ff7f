package portable

import (
	"fmt"
	"slices"
)

// Profiles are the portable profiles systemd ships
// (src/portable/profile/NAME/service.conf), in the order portablectl lists
// them.
var Profiles = []string{"default", "nonetwork", "strict", "trusted"}

// profile is what one portable profile's service.conf sets that decides
// which paths a service needs in its image. portabled links it as the
// drop-in 10-profile.conf of every attached service, so it overrides the
// unit's own value of a single-valued setting and adds to list settings.
type profile struct {
	mountAPIVFS    bool // MountAPIVFS=yes: /proc /sys /dev /run mounted
	privateTmp     bool // PrivateTmp=yes
	dynamicUser    bool // DynamicUser=yes
	privateDevices bool // PrivateDevices=yes
	// bindReadOnly and bind are the profile's BindReadOnlyPaths= and
	// BindPaths= (a "-" prefix: the source may be missing on the host).
	bindReadOnly []string
	bind         []string
	// logSockets are the journal's sockets and /dev/log, bound read-only
	// (252: BindReadOnlyPaths=, 257: BindLogSockets=yes, part of the
	// sandbox).
	logSockets []string
}

// profileFor returns profile name as systemd version v ships it.
//
//   - v252: default, nonetwork and strict set PrivateTmp=yes and bind
//     /dev/log and the journal sockets read-only; v257 drops both (its
//     BindLogSockets=yes binds the sockets; DynamicUser=yes implies
//     PrivateTmp=disconnected).
//   - All four set MountAPIVFS=yes and bind /etc/machine-id read-only;
//     default and trusted bind -/etc/resolv.conf; default and nonetwork
//     bind /run/dbus/system_bus_socket; trusted binds /run read-write and
//     sets PrivateTmp=yes but no DynamicUser=.
func profileFor(name string, v int) (profile, error) {
	if !slices.Contains(Profiles, name) {
		return profile{}, fmt.Errorf("%w: %q (systemd ships %v)", ErrProfile, name, Profiles)
	}
	p := profile{mountAPIVFS: true, bindReadOnly: []string{"/etc/machine-id"}}
	logSockets := []string{"/dev/log", "/run/systemd/journal/socket", "/run/systemd/journal/stdout"}
	switch name {
	case "trusted":
		p.privateTmp = true
		p.bind = []string{"/run"}
		p.bindReadOnly = append(p.bindReadOnly, "-/etc/resolv.conf")
		return p, nil
	case "default":
		p.bindReadOnly = append(p.bindReadOnly, "-/etc/resolv.conf", "/run/dbus/system_bus_socket")
	case "nonetwork":
		p.bindReadOnly = append(p.bindReadOnly, "/run/dbus/system_bus_socket")
	}
	p.dynamicUser, p.privateDevices = true, true
	p.logSockets = logSockets
	if v < 257 {
		p.privateTmp = true
	}
	return p, nil
}
