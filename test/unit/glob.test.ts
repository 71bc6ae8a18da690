import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globToRegExp } from '../../src-main/common/glob.js';

test('shell patterns match names as find -name does', () => {
  const cases: [string, string[], string[]][] = [
    ['*.jpg', ['cat.jpg', '.jpg', 'a.b.jpg'], ['cat.jpeg', 'cat.jpg.bak']],
    ['IMG_??.png', ['IMG_01.png'], ['IMG_1.png', 'IMG_001.png']],
    ['[ab]*', ['apple', 'b'], ['cherry', '']],
    ['[!a]*', ['banana'], ['apple']],
    ['[a-c]x', ['bx'], ['dx']],
    ['a\\*b', ['a*b'], ['axb']],
    ['half[', ['half['], ['half']],
    ['(x)+.txt', ['(x)+.txt'], ['xx.txt']],
    ['/photos/*/cat.jpg', ['/photos/2024/cat.jpg'], ['/photos/cat.jpg']],
  ];
  for (const [pattern, yes, no] of cases) {
    const re = globToRegExp(pattern);
    for (const name of yes) assert.ok(re.test(name), `${pattern} should match ${name}`);
    for (const name of no) assert.ok(!re.test(name), `${pattern} should not match ${name}`);
  }
});
