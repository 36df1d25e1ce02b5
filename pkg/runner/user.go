package runner

import (
	"bufio"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// Account is a resolved "user" option.
type Account struct {
	Name   string
	UID    int
	GID    int   // primary group
	Groups []int // supplementary groups: every group listing Name as a member, sorted
}

// LookupUser resolves a user name or numeric uid through the passwd
// database, with zdctl's messages ("username 'X' not found",
// "uid 'N' not found").
func LookupUser(spec string) (*Account, error) {
	var u *user.User
	var err error
	if _, convErr := strconv.Atoi(strings.TrimSpace(spec)); convErr == nil {
		u, err = user.LookupId(strings.TrimSpace(spec))
		if err != nil {
			return nil, getopt.Usagef("uid %s not found", pyrepr.Str(spec))
		}
	} else {
		u, err = user.Lookup(spec)
		if err != nil {
			return nil, getopt.Usagef("username %s not found", pyrepr.Str(spec))
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &Account{Name: u.Username, UID: uid, GID: gid, Groups: memberGroups(u.Username)}, nil
}

// memberGroups lists the gids of /etc/group entries naming user as a
// member, as zdaemon's set_uid does with grp.getgrall().
func memberGroups(name string) []int {
	f, err := os.Open("/etc/group")
	if err != nil {
		return nil
	}
	defer f.Close()
	var gids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 4 {
			continue
		}
		for _, m := range strings.Split(parts[3], ",") {
			if strings.TrimSpace(m) == name {
				if g, err := strconv.Atoi(parts[2]); err == nil {
					gids = append(gids, g)
				}
				break
			}
		}
	}
	sort.Ints(gids)
	return gids
}

// Switch becomes the account, with zdctl's rules (zdaemon 5.2.1 zdctl.ZDCmd, the "user" key): a
// non-root process may only "switch" to itself (nothing is done); anything
// else is the usage error "only root can use -u USER to change users".
// Root sets the primary gid, the supplementary groups, then the uid.
func (a *Account) Switch() error {
	euid := os.Geteuid()
	if euid != 0 {
		if euid != a.UID {
			return getopt.Usagef("only root can use -u USER to change users")
		}
		return nil
	}
	if err := syscall.Setgid(a.GID); err != nil {
		return err
	}
	if err := syscall.Setgroups(a.Groups); err != nil {
		return err
	}
	return syscall.Setuid(a.UID)
}
