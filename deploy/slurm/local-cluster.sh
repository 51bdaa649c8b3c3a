#!/bin/bash
# A one-node Slurm cluster on this machine (loopback, no systemd), for the tests and for trying
# the templates. Everything it writes lives in $SLURM_LOCAL_DIR (default /tmp/maskforge-slurm):
# slurm.conf, a munge key and socket, Slurm's state and spool, pid files and logs. Nothing under
# /etc, /run or /var is touched. Slurm's commands find the cluster through
# SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf.
# Needs root and Debian's packages: apt-get install slurmctld slurmd slurm-client munge.
#
#   local-cluster.sh [start]   start munged, slurmctld and slurmd (nothing when the node answers)
#   local-cluster.sh stop      stop the daemons that start left (by their pid files)
set -euo pipefail
state=$(mkdir -p "${SLURM_LOCAL_DIR:-/tmp/maskforge-slurm}" && cd "${SLURM_LOCAL_DIR:-/tmp/maskforge-slurm}" && pwd)
conf=$state/slurm.conf
export SLURM_CONF=$conf

# Stops the daemon whose pid file is $1, waiting up to 10 s for it to exit.
stop_daemon() {
    local pid
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

if [ "${1:-start}" = stop ]; then
    stop_daemon "$state/slurmd.pid"
    stop_daemon "$state/slurmctld.pid"
    stop_daemon "$state/munge/munged.pid"
    exit 0
fi

if [ -s "$conf" ] && timeout 5 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    exit 0
fi
host=$(hostname -s)
# Two free ports, so the cluster never meets another Slurm on this machine.
read -r ctld_port node_port < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
mkdir -p "$state/state" "$state/spool" "$state/log" "$state/munge"
chmod 0700 "$state/munge"
cat >"$conf" <<CONF
ClusterName=maskforge-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$node_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=3600
ReturnToService=2
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munge, as root, on its own key and socket.
if [ ! -s "$state/munge/munge.key" ]; then
    mungekey --create --keyfile="$state/munge/munge.key"
fi
chmod 0600 "$state/munge/munge.key"
stop_daemon "$state/munge/munged.pid"
munged --force --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
    --pid-file="$state/munge/munged.pid" --log-file="$state/munge/munged.log" \
    --seed-file="$state/munge/munged.seed"

stop_daemon "$state/slurmd.pid"
stop_daemon "$state/slurmctld.pid"
slurmctld -c -f "$conf"
slurmd -f "$conf"
for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        exit 0
    fi
    sleep 0.5
done
echo "the local Slurm node did not come up; see $state/log/ and $state/munge/munged.log" >&2
sinfo >&2 || true
exit 1
