package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machineLockName is the lock file, in the system's temporary directory,
// that harnesses on one machine take turns on: two harnesses measuring at
// once would each measure the other.
const machineLockName = "trunkline-bench.lock"

// machineLock is the machine-wide lock of a harness run.
type machineLock struct{ f *os.File }

// machineLockPath is the machine-wide lock file.
func machineLockPath() string { return filepath.Join(os.TempDir(), machineLockName) }

// lockMachine takes the lock on the file at path, waiting (and saying so
// through logf every 30 s) while another harness holds it, until ctx is
// done.
func lockMachine(ctx context.Context, path string, logf func(string, ...any)) (*machineLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("cannot open the machine lock %s: %w", path, err)
	}
	var lastLog time.Time
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("cannot take the machine lock %s: %w", path, err)
		}
		if time.Since(lastLog) >= 30*time.Second {
			lastLog = time.Now()
			b, _ := os.ReadFile(path)
			logf("waiting for another trunkline-bench on this machine (pid %s) to finish", strings.TrimSpace(string(b)))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &machineLock{f}, nil
}

// unlock releases the lock.
func (l *machineLock) unlock() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
