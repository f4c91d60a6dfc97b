package index

import "database/sql"

// hkey is one rollup cell within an hour: alerts of priority prio whose
// facet carries value val.
type hkey struct {
	prio  uint8
	facet uint8
	val   uint32
}

// rollups mirror the roll and rollm tables in memory: counts per hour,
// priority and facet value, and per minute and priority.
type rollups struct {
	hours   map[int64]map[hkey]int64
	minutes map[int64]*[9]int64
}

func newRollups() rollups {
	return rollups{hours: map[int64]map[hkey]int64{}, minutes: map[int64]*[9]int64{}}
}

func (r *rollups) addHour(h int64, k hkey, n int64) {
	m := r.hours[h]
	if m == nil {
		m = map[hkey]int64{}
		r.hours[h] = m
	}
	if m[k] += n; m[k] <= 0 {
		delete(m, k)
		if len(m) == 0 {
			delete(r.hours, h)
		}
	}
}

func (r *rollups) addMinute(m int64, p int, n int64) {
	if p < 0 || p > 8 {
		return
	}
	c := r.minutes[m]
	if c == nil {
		c = &[9]int64{}
		r.minutes[m] = c
	}
	c[p] += n
	for _, v := range c {
		if v > 0 {
			return
		}
	}
	delete(r.minutes, m)
}

// bounds are the first and last minute holding alerts.
func (r *rollups) bounds() (lo, hi int64, ok bool) {
	for m := range r.minutes {
		if !ok || m < lo {
			lo = m
		}
		if !ok || m > hi {
			hi = m
		}
		ok = true
	}
	return
}

// rollDelta collects the rollup changes of one transaction.
type rollDelta struct {
	h map[int64]map[hkey]int64
	m map[int64][9]int64
}

func (d *rollDelta) add(t int64, prio int, ids [FTag]uint32, tags []uint32, n int64) {
	if prio < 0 || prio > 8 {
		prio = 0
	}
	h := hourOf(t)
	cells := d.h[h]
	if cells == nil {
		cells = map[hkey]int64{}
		d.h[h] = cells
	}
	for f := 0; f < FTag; f++ {
		cells[hkey{uint8(prio), uint8(f), ids[f]}] += n
	}
	for _, tg := range tags {
		cells[hkey{uint8(prio), FTag, tg}] += n
	}
	mm := minuteOf(t)
	c := d.m[mm]
	c[prio] += n
	d.m[mm] = c
}

func (d *rollDelta) persist(tx *sql.Tx) error {
	up, err := tx.Prepare(`INSERT INTO roll(hour, prio, facet, val, n) VALUES(?,?,?,?,?)
		ON CONFLICT(hour, prio, facet, val) DO UPDATE SET n = n + excluded.n`)
	if err != nil {
		return err
	}
	defer up.Close()
	for h, cells := range d.h {
		for k, n := range cells {
			if n == 0 {
				continue
			}
			if _, err := up.Exec(h, k.prio, k.facet, k.val, n); err != nil {
				return err
			}
			if n < 0 {
				if _, err := tx.Exec(`DELETE FROM roll WHERE hour=? AND prio=? AND facet=? AND val=? AND n <= 0`, h, k.prio, k.facet, k.val); err != nil {
					return err
				}
			}
		}
	}
	upm, err := tx.Prepare(`INSERT INTO rollm(minute, prio, n) VALUES(?,?,?) ON CONFLICT(minute, prio) DO UPDATE SET n = n + excluded.n`)
	if err != nil {
		return err
	}
	defer upm.Close()
	for m, c := range d.m {
		for p, n := range c {
			if n != 0 {
				if _, err := upm.Exec(m, p, n); err != nil {
					return err
				}
				if n < 0 {
					if _, err := tx.Exec(`DELETE FROM rollm WHERE minute=? AND prio=? AND n <= 0`, m, p); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (d *rollDelta) apply(r *rollups) {
	for h, cells := range d.h {
		for k, n := range cells {
			if n != 0 {
				r.addHour(h, k, n)
			}
		}
	}
	for m, c := range d.m {
		for p, n := range c {
			if n != 0 {
				r.addMinute(m, p, n)
			}
		}
	}
}
