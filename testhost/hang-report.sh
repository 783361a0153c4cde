#!/bin/bash
# Runs inside the test host shortly before run.sh's time limit (run.sh
# starts it): prints what every process waits on and the kernel stacks of
# tern's and the tests' threads, so a stuck run says where it is stuck. If
# this never prints, the test host itself froze.
echo "testhost: still running after ${1:-?}s; processes:"
ps -eo pid,stat,wchan:30,etime,args | grep -v ' \[' | cut -c1-200
for pid in $(pgrep -f 'tern|python3'); do
	[[ -r /proc/$pid/cmdline ]] || continue
	echo "--- $pid $(xargs -0 </proc/$pid/cmdline | cut -c1-120)"
	for task in /proc/$pid/task/*; do
		echo "task ${task##*/} ($(cat "$task/comm" 2>/dev/null)): $(cat "$task/wchan" 2>/dev/null)"
		cat "$task/stack" 2>/dev/null
	done
done
