#!/usr/bin/python3
# Fits the polynomial coefficients of inference/cmath.h (near-minimax by Lawson's iteratively
# reweighted least squares, in double precision) and the 4-part Cody-Waite split of pi/2.
# The coefficients are rounded to float and frozen in cmath.h; this script documents where they
# came from. Run with Debian's python (needs numpy): /usr/bin/python3 scripts/cmath-fit.py
import numpy as np
from numpy.polynomial import chebyshev as C
def minimax(f, a, b, powers, weight, iters=30):
    # iteratively reweighted least squares toward minimax (Lawson), float64
    x = np.cos(np.linspace(0, np.pi, 20001))*(b-a)/2+(a+b)/2
    A = np.stack([x**p for p in powers], 1)
    y = f(x); w = weight(x)
    lw = np.ones_like(x)
    for _ in range(iters):
        W = np.sqrt(lw)*w
        c, *_ = np.linalg.lstsq(A*W[:,None], y*W, rcond=None)
        e = np.abs((A@c - y)*w)
        lw = lw*e; lw /= lw.sum()
    return c, e.max()
def hexf(v): return float(np.float32(v)).hex()
# exp(r) = 1 + r + r^2*Q(r), |r|<=0.35; fit Q(r) = (exp(r)-1-r)/r^2
f = lambda r: np.where(np.abs(r)<1e-6, 0.5+r/6, (np.expm1(r)-r)/np.where(r==0,1,r)**2)
c,e = minimax(f,-0.35,0.35,[0,1,2,3,4],lambda r: r*r/np.exp(r))
print("exp Q", [hexf(v) for v in c], e)
# log: log1p(f) = f - s*(f - R(z)), s=f/(2+f), z=s^2, R(z)=sum a_i z^i i=1..4 ; |s|<=0.1716
smax = (np.sqrt(2)-1)/(np.sqrt(2)+1)
g = lambda z: (2*np.arctanh(np.sqrt(z))/np.sqrt(np.maximum(z,1e-30)) - 2)
c,e = minimax(lambda z: np.where(z<1e-12, 2*z/3, g(z))/np.maximum(z,1e-300), 1e-12, smax**2, [0,1,2,3], lambda z: z)
print("log R/z", [hexf(v) for v in c], e)
# tanh small: tanh(x) = x + x^3 P(x^2), |x| <= 0.55
g = lambda z: (np.tanh(np.sqrt(z)) - np.sqrt(z))/np.sqrt(z)**3
c,e = minimax(g, 1e-10, 0.55**2, [0,1,2,3,4,5], lambda z: np.sqrt(z)**3/np.tanh(np.sqrt(z)))
print("tanh P", [hexf(v) for v in c], e)
# sin(r) = r + r^3 S(r^2), |r| <= 0.82
g = lambda z: (np.sin(np.sqrt(z)) - np.sqrt(z))/np.sqrt(z)**3
c,e = minimax(g, 1e-10, 0.82**2, [0,1,2,3], lambda z: np.sqrt(z)**3/np.sin(np.sqrt(z)))
print("sin S", [hexf(v) for v in c], e)
# cos(r) = 1 - z/2 + z^2 C(z)
g = lambda z: (np.cos(np.sqrt(z)) - 1 + z/2)/z**2
c,e = minimax(g, 1e-8, 0.82**2, [0,1,2,3], lambda z: z**2/np.cos(np.sqrt(z)))
print("cos C", [hexf(v) for v in c], e)
import math
print("log2e", hexf(1/math.log(2)), "2/pi", hexf(2/math.pi))
from fractions import Fraction as F
from decimal import Decimal, getcontext
getcontext().prec=60
PI=F(Decimal("3.14159265358979323846264338327950288419716939937510582097494459"))
rem=PI/2

def round_bits(v,bits):
    if v==0: return F(0)
    e=math.floor(math.log2(abs(float(v))))
    scale=F(2)**(bits-1-e)
    return F(round(v*scale))/scale
parts=[]
for b in [6,6,6,24]:
    c=round_bits(rem,b); parts.append(c); rem-=c
for c in parts: print(float(c).hex(), float(c))
print("residual", float(rem))
