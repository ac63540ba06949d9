# The original method's tool for `cargo xtask bench` (section "analysis speed"): per function,
# the number of calls and the mean and sample variance of the call duration, from the CSV of
# `kpath export --format csv`. The figures are the ones `kpath report` gives per function with
# its default filter (`--filter interrupted`): every call counts in `calls`, but calls hit by an
# interrupt, a context switch or a migration (`interrupted` = true) are not samples. Functions
# are keyed by stage and name, as kpath keeps a function's receive and send calls apart.
#
# Columns are found by their header names. Function names are taken as plain fields: kernel
# symbols contain no comma or quote, so no CSV quoting occurs.
#
# Output, one line per stage and function: stage,function,calls,samples,mean_ns,variance_ns2
# (the variance is M2/(n-1), 0 below two samples; sums of integer nanoseconds are exact in
# doubles up to 2^53, so the plain sum-of-squares form loses nothing here).

BEGIN { FS = ","; bad = 0 }

NR == 1 {
    for (i = 1; i <= NF; i++) col[$i] = i
    if (!("stage" in col) || !("function" in col) || !("dur_ns" in col) \
        || !("interrupted" in col)) {
        print "mean_var.awk: the header lacks stage, function, dur_ns or interrupted" \
            > "/dev/stderr"
        bad = 1
        exit 2
    }
    cs = col["stage"]; cf = col["function"]; cd = col["dur_ns"]; ci = col["interrupted"]
    next
}

{
    k = $cs "," $cf
    calls[k]++
    if ($ci == "true") next
    d = $cd + 0
    n[k]++
    s[k] += d
    ss[k] += d * d
}

END {
    if (bad) exit 2
    for (k in calls) {
        c = n[k] + 0
        m = c > 0 ? s[k] / c : 0
        v = c > 1 ? (ss[k] - s[k] * m) / (c - 1) : 0
        if (v < 0) v = 0
        printf "%s,%.0f,%.0f,%.17g,%.17g\n", k, calls[k], c, m, v
    }
}
