#!/usr/bin/env python3
"""Reproduces a reader of a shared mapping killed by SIGBUS (BUS_ADRERR) while another process
writes the file, on a Bazil mount under load. Not part of `npm test`: a tool for the bug.

Usage: python3 test/stress/map-while-writing.py MOUNTED_DIR [ITERATIONS]
Each iteration: a writer pwrite()s 64 blocks of 64 KiB (block i filled with byte i), fsync every
8, 5 ms apart; a reader maps the whole blocks the file has (st_size) and checks each is the
writer's or zeros, until the writer is done. Prints each reader that did not exit 0, then "bad N".
Run two busy loops beside it (sh -c 'while :; do :; done') to load both cores.
"""
import os, subprocess, sys

WRITER = r'''
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(64):
    os.pwrite(fd, bytes([i]) * 65536, i * 65536)
    if i % 8 == 7:
        os.fsync(fd)
    time.sleep(0.005)
os.close(fd)
open(sys.argv[2], 'w').close()
'''

READER = r'''
import mmap, os, sys, time
path, done_path = sys.argv[1], sys.argv[2]
while not os.path.exists(path):
    time.sleep(0.001)
while True:
    done = os.path.exists(done_path)
    size = os.stat(path).st_size // 65536 * 65536
    if size:
        with open(path, 'rb') as f:
            m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
            for i in range(size // 65536):
                block = m[i * 65536:(i + 1) * 65536]
                assert block in (bytes([i]) * 65536, bytes(65536)), i
            m.close()
    if done:
        break
'''

def main():
    where = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    bad = 0
    for n in range(iterations):
        path = os.path.join(where, 'growing-%d' % n)
        done = os.path.join(where, 'done-%d' % n)
        writer = subprocess.Popen([sys.executable, '-c', WRITER, path, done])
        reader = subprocess.Popen([sys.executable, '-c', READER, path, done], stderr=subprocess.PIPE)
        writer.wait()
        _, err = reader.communicate()
        if reader.returncode != 0:
            bad += 1
            how = 'killed by signal %d' % -reader.returncode if reader.returncode < 0 else 'exit %d' % reader.returncode
            print('iteration %d: reader %s %s' % (n, how, err.decode()[-300:]))
        os.unlink(path)
        os.unlink(done)
    print('bad', bad)

main()
