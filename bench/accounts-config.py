#!/usr/bin/env python3
"""Writes a wxhost config with N accounts (`a0` … `a<N-1>`), each with its own
AppID (`wxacc<i, 10 digits>`), Token (`tok<i>`), EncodingAESKey and AppSecret —
the accounts `loadgen accounts` signs for. Used by bench/accounts.sh and
bench/load.sh. Usage: accounts-config.py N OUT"""
import sys


def key(i):
    return "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26]


n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    for i in range(n):
        f.write(f'[account.a{i}]\napp_id = "wxacc{i:010d}"\ntoken = "tok{i}"\n'
                f'encoding_aes_key = "{key(i)}"\napp_secret = "secret-{i:08d}"\n\n')
