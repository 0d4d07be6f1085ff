"""A small built-in list of the most common passwords (from public breach-frequency
lists, lower-cased), refused by the password policy. Not a full breach corpus:
`check_password` also refuses these with digits or symbols appended."""

from __future__ import annotations

_LIST = """
    123456 1234567 12345678 123456789 1234567890 12345678910 0123456789 987654321
    0987654321 11111111 111111111 1111111111 00000000 000000000 0000000000 22222222
    55555555 66666666 88888888 99999999 12341234 12121212 11223344 112233445566
    123123123 123321123 147258369 159753 1qaz2wsx 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y
    zaq12wsx zaq1zaq1 qwertyui qwertyuiop qwerty123 qwerty1234 qwertyu asdfghjk
    asdfghjkl asdf1234 zxcvbnm zxcvbnm123 qazwsxedc qweasdzxc 1qazxsw2 q1w2e3r4
    q1w2e3r4t5 abcd1234 abc12345 abcdefg abcdefgh abcdefghi a1b2c3d4 aa123456
    password password1 password12 password123 password1234 passw0rd p@ssw0rd
    p@ssword pa55word pa55w0rd passwort motdepasse contraseña senha wachtwoord
    iloveyou iloveyou1 sunshine princess football baseball basketball superman
    batman spiderman starwars pokemon trustno1 letmein letmein1 welcome welcome1
    welcome123 admin admin123 admin1234 administrator root toor changeme changeit
    default secret secret123 master dragon monkey shadow michael jennifer jordan23
    charlie freedom whatever computer internet access access14 mustang harley
    hunter2 killer maggie ginger cookie chocolate butterfly liverpool chelsea
    arsenal barcelona madrid jessica ashley daniel thomas anthony matthew michelle
    nicole hannah samantha jasmine qwerty qwert12345 asdfasdf zxczxc loveyou
    lovely lovelove 1loveyou friends forever family summer winter autumn spring
    december november october september august january february
    rubricforge streamlit postgres postgresql database
    """
COMMON_PASSWORDS = frozenset(_LIST.split())
