package pipeline

// maxTimestamp is the last millisecond of the year 9999, the latest time the
// decoders accept; the earliest is the Unix epoch.
const maxTimestamp = 253402300799999

const msPerDay = 86400000

// ParseTimestamp parses an RFC 3339 date-time, the contents of a JSON string
// such as 2026-11-24T10:15:03.120+01:00, into Unix milliseconds (UTC). The
// offset is Z or ±hh:mm (hh up to 23); the fraction of a second may have any
// number of digits and is truncated to the millisecond. As with time.Parse,
// 'T' and 'Z' must be upper case and a leap second (60) is rejected. ok is
// false for anything else, and for times before the Unix epoch or after the
// year 9999. It does not allocate.
func ParseTimestamp(b []byte) (ms int64, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := b[19:]

	var frac int64
	if rest[0] == '.' {
		n := 1
		for ; n < len(rest) && '0' <= rest[n] && rest[n] <= '9'; n++ {
			if n <= 3 {
				frac = frac*10 + int64(rest[n]-'0')
			}
		}
		if n == 1 {
			return 0, false
		}
		for i := n; i <= 3; i++ {
			frac *= 10
		}
		rest = rest[n:]
	}

	var offset int64 // minutes east of UTC
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*60 + om
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}

	secs := ((daysFromCivil(year, month, day)*24+hour)*60+minute-offset)*60 + sec
	ms = secs*1000 + frac
	if ms < 0 || ms > maxTimestamp {
		return 0, false
	}
	return ms, true
}

// digits parses b, which must be all decimal digits.
func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given date
// of the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400 // [0, 399]
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // March = 0
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// AppendTime appends ms, Unix milliseconds, as an RFC 3339 time in UTC with
// milliseconds (2026-11-24T10:15:03.120Z), the form of every time trunkline
// writes. Years outside 0000..9999 are written as time.Time.Format writes
// them (a sign, or more digits). It does not allocate when dst has room.
func AppendTime(dst []byte, ms int64) []byte {
	days := floorDiv(ms, msPerDay)
	rem := ms - days*msPerDay // [0, msPerDay)
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return appendTimeWide(dst, y, m, d, rem)
	}
	// The common case, years 0 to 9999, is written into a fixed array and
	// appended at once: one copy instead of one per field.
	var b [24]byte // 2006-01-02T15:04:05.000Z
	put4(b[0:4], y)
	b[4] = '-'
	put2(b[5:7], m)
	b[7] = '-'
	put2(b[8:10], d)
	b[10] = 'T'
	put2(b[11:13], rem/3600000)
	b[13] = ':'
	put2(b[14:16], rem/60000%60)
	b[16] = ':'
	put2(b[17:19], rem/1000%60)
	b[19] = '.'
	ms3 := rem % 1000
	b[20] = byte('0' + ms3/100)
	put2(b[21:23], ms3%100)
	b[23] = 'Z'
	return append(dst, b[:]...)
}

// put2 writes 0 <= n < 100 as two digits.
func put2(b []byte, n int64) {
	_ = b[1]
	b[0] = byte('0' + n/10)
	b[1] = byte('0' + n%10)
}

// put4 writes 0 <= n < 10000 as four digits.
func put4(b []byte, n int64) {
	_ = b[3]
	put2(b[0:2], n/100)
	put2(b[2:4], n%100)
}

// appendTimeWide is AppendTime for years before 0 or after 9999.
func appendTimeWide(dst []byte, y, m, d, rem int64) []byte {
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	if y > 9999 {
		dst = appendInt(dst, y/10000, 1)
		y %= 10000
	}
	dst = appendInt(dst, y, 4)
	dst = append(dst, '-')
	dst = appendInt(dst, m, 2)
	dst = append(dst, '-')
	dst = appendInt(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendInt(dst, rem/3600000, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, rem/60000%60, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, rem/1000%60, 2)
	dst = append(dst, '.')
	dst = appendInt(dst, rem%1000, 3)
	return append(dst, 'Z')
}

// appendInt appends n >= 0 in decimal, zero-padded to width digits.
func appendInt(dst []byte, n int64, width int) []byte {
	var b [20]byte
	i := len(b)
	for n >= 10 || width > 1 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	b[i] = byte('0' + n)
	return append(dst, b[i:]...)
}
