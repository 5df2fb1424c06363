package adapter

import "time"

// SetRecoveryClock makes m's recovery store read the time from now (tests).
// Call it after EnableRecovery, before the adapter is used.
func SetRecoveryClock(m *Memory, now func() time.Time) {
	st := m.rec.Load()
	st.now = now
	st.epoch = uint64(now().UnixMilli())
}
