#!/usr/bin/env python3
"""Reproduces a reader of a shared mapping killed by SIGBUS (BUS_ADRERR) while another process
writes the file, on a Bazil mount under load. Not part of `npm test`: a tool for the bug.

Usage: python3 test/stress/map-while-writing.py MOUNTED_DIR [ITERATIONS] [--seek-end]
Each iteration: a writer pwrite()s 64 blocks of 64 KiB (block i filled with byte i), fsync every
8, 5 ms apart; a reader maps the whole blocks the file has (st_size, or with --seek-end the size
lseek(SEEK_END) gives) and checks each is the writer's or zeros, until the writer is done. Prints
each reader that did not exit 0, then "bad N". Run two busy loops beside it
(sh -c 'while :; do :; done') to load both cores.

What it shows (kernel 6.18, measured with a C reader that catches the signal): the fault is on the
first page of the block written last, no READ reaches the engine, and the page lies past the
kernel's i_size while stat said it was inside. The writer's write() sets FUSE_I_SIZE_UNSTABLE and
updates i_size only when its thread runs again after the engine's reply; a GETATTR answered in that
window (the engine answers in order, so right after the WRITE) is not applied to the inode, yet
fuse_do_getattr() hands the answered size to stat. st_size: 1-6 of 60-120 iterations die;
--seek-end (fuse_file_llseek uses the inode's own i_size): 0 of 150. The writeback cache, where
the kernel owns the size, would close it; today it is off (bench/RESULTS.md).
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
path, done_path, seek_end = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
while not os.path.exists(path):
    time.sleep(0.001)
while True:
    done = os.path.exists(done_path)
    if seek_end:
        with open(path, 'rb') as f:
            size = f.seek(0, os.SEEK_END)
    else:
        size = os.stat(path).st_size
    size = size // 65536 * 65536
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
    args = [a for a in sys.argv[1:] if a != '--seek-end']
    seek_end = '1' if '--seek-end' in sys.argv else '0'
    where = args[0]
    iterations = int(args[1]) if len(args) > 1 else 100
    bad = 0
    for n in range(iterations):
        path = os.path.join(where, 'growing-%d' % n)
        done = os.path.join(where, 'done-%d' % n)
        writer = subprocess.Popen([sys.executable, '-c', WRITER, path, done])
        reader = subprocess.Popen([sys.executable, '-c', READER, path, done, seek_end], stderr=subprocess.PIPE)
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
